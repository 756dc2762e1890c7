"""Next-frame prediction from the command line: a short L2 run that beats copying the last frame,
then sample and eval; bad input fails before any work."""

import json

import pytest

from jaxgan import cli


@pytest.mark.slow
def test_a_short_l2_run_beats_copy_last_frame(tmp_path, capsys):
  out = str(tmp_path / "r")
  assert cli.main(["train", "frames", "--preset", "l2", "--background", "grey", "--steps", "200",
                   "--log-every", "100", "--sample-every", "0", "--checkpoint-every", "200",
                   "--no-progress", "--out", out]) == 0
  result = json.loads(capsys.readouterr().out.splitlines()[-1])["eval"]
  model, copy = result["model"]["frame_1"], result["copy_last_frame"]["frame_1"]
  # on the moving pixels, the prediction beats the last input frame, beyond the bootstrap intervals
  assert model["psnr"]["moving"]["low"] > copy["psnr"]["moving"]["high"], (model, copy)


def test_train_then_sample_and_evaluate_from_the_command_line(tmp_path, capsys, tiny_frame_networks):
  out = str(tmp_path / "r")
  assert cli.main(["train", "frames", "--preset", "l2", "--background", "grey", "--steps", "2",
                   "--networks", "tiny",
                   "--log-every", "2", "--sample-every", "0", "--checkpoint-every", "2",
                   "--no-evaluate", "--no-progress", "--out", out]) == 0
  assert cli.main(["sample", out, "--out", str(tmp_path / "strip.png"), "--n", "3"]) == 0
  from PIL import Image

  with Image.open(tmp_path / "strip.png") as im:  # 3 rows of 4 inputs + 2 true + 2 predicted
    assert im.size[0] > 2 * im.size[1]
  capsys.readouterr()
  assert cli.main(["eval", out]) == 0
  result = json.loads(capsys.readouterr().out.splitlines()[-1])
  assert result["step"] == 2 and set(result["model"]) == {"frame_1", "frame_2", "official"}
  copy = result["copy_last_frame"]["frame_1"]["psnr"]["moving"]
  assert copy["low"] <= copy["mean"] <= copy["high"]
  assert result["paper_table_2_ucf101"]["adv-gdl"][0][0] == 31.5 and "not UCF101" in result["note"]


@pytest.mark.parametrize("argv,message", [
    (["--loss", "l2+perceptual"], "unknown loss term 'perceptual'"),
    (["--scales", "3", "1"], "32x32 frames cannot be down-sampled by [3]"),
    (["--input-frames", "5"], "fewer than the 5 inputs + 2 targets"),
    (["--dataset", "kth"], "unknown dataset 'kth' for frames"),
    (["--preset", "gdl"], "unknown preset 'gdl' for frames"),
    (["--batch-size", "7000"], "larger than the 6000 training sequences"),
    (["--image-size", "48"], "moving-digits is drawn at (32, 64) px"),
    (["--devices", "3"], "does not split over 3 devices"),
])
def test_bad_input_fails_early_with_a_clear_message(argv, message, tmp_path, capsys):
  out = tmp_path / "run"
  assert cli.main(["train", "frames", *argv, "--out", str(out), "--no-progress"]) == 2
  err = capsys.readouterr().err
  assert message in err and len(err.strip().splitlines()) == 1, err
  assert not out.exists()
