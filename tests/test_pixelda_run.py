"""PixelDA from the command line: train, sample, eval; bad input; and a short run that adapts."""

import json
import os

import pytest

from jaxgan import cli

# 16 px digits -> digits-m with small networks and a 3x learning rate. The paper's claim (the
# adapted classifier beats source-only on the target) needs thousands of iterations and several
# seeds: benchmarks/pixelda.py measures it (benchmarks/results/pixelda.md).
SHORT = ["--generator-filters", "16", "--generator-blocks", "2", "--discriminator-filters", "16",
         "--lr", "3e-3", "--reference-steps", "100"]
TINY = ["--image-size", "8", "--generator-filters", "8", "--generator-blocks", "1",
        "--discriminator-filters", "8", "--batch-size", "8", "--reference-steps", "4"]


@pytest.mark.slow
def test_a_short_run_moves_source_images_toward_the_target(tmp_path, capsys):
  """G measurably learns the target's look in 300 iterations: the pixel-statistics gap of G(x_s)
  to the target is 0.35-0.42 of the source's (2 seeds; 0.98-1.01 at initialisation, where G is
  near the identity)."""
  out = str(tmp_path / "r")
  assert cli.main(["train", "pixelda", *SHORT, "--steps", "300", "--log-every", "100",
                   "--checkpoint-every", "300", "--no-progress", "--out", out]) == 0
  result = json.loads(capsys.readouterr().out.splitlines()[-1])["eval"]
  gap = result["pixel_statistics_gap"]
  assert gap["adapted"] < 0.75 * gap["source"], gap


def test_train_then_sample_and_evaluate_from_the_command_line(tmp_path, capsys):
  out = str(tmp_path / "r")
  assert cli.main(["train", "pixelda", *TINY, "--steps", "4", "--log-every", "2",
                   "--checkpoint-every", "4", "--no-progress", "--out", out]) == 0
  result = json.loads(capsys.readouterr().out.splitlines()[-1])["eval"]
  for name in ("pixelda", "source_only", "target_only", "label_preservation"):
    assert 0.0 <= result[name] <= 1.0
  assert set(result["pixel_statistics_gap"]) == {"source", "adapted"}
  assert os.path.exists(os.path.join(out, "references.msgpack"))

  assert cli.main(["sample", out, "--out", str(tmp_path / "adapted.png"), "--n", "16"]) == 0
  from PIL import Image

  with Image.open(tmp_path / "adapted.png") as im:  # 4 rows (source, 2 adaptations, target) of 4
    assert abs(im.size[0] - im.size[1]) < 10
  assert cli.main(["eval", out]) == 0
  again = json.loads(capsys.readouterr().out.splitlines()[-1])
  assert set(again) >= {"step", "pixelda", "source_only", "target_only", "label_preservation",
                        "gap_closed", "paper_table_1_mnist_to_mnist_m", "note"}
  assert again["step"] == 4 and again["paper_table_1_mnist_to_mnist_m"]["pixelda"] == 98.2
  assert "not MNIST" in again["note"]
  # the references saved by the run's evaluation are reused: the same figures again
  assert {k: again[k] for k in result} == result


@pytest.mark.parametrize("argv,message", [
    (["--source", "svhn"], "unknown source 'svhn'"),
    (["--source", "tfds:mnist"], "digits and digits-m go together"),
    (["--domain-loss-weight", "0"], "leaves the discriminator untrained"),
    (["--source", "tfds:mnist", "--target", "mnistm"], "unknown target 'mnistm'"),
    (["--preset", "nature"], "unknown preset 'nature' for pixelda"),
    (["--batch-size", "700"], "larger than the 629 source training images"),
    (["--keep-prob", "0"], "keep_prob is the probability of keeping"),
    (["--image-size", "12"], "digits are available at image sizes"),
    (["--devices", "3"], "does not split over 3 devices"),
])
def test_bad_input_fails_early_with_a_clear_message(argv, message, tmp_path, capsys):
  out = tmp_path / "run"
  assert cli.main(["train", "pixelda", *argv, "--out", str(out), "--no-progress"]) == 2
  err = capsys.readouterr().err
  assert message in err and len(err.strip().splitlines()) == 1
  assert not out.exists()


def test_a_target_without_test_labels_is_refused_before_any_work(tmp_path, capsys):
  (tmp_path / "mnist_m_train").mkdir()
  (tmp_path / "mnist_m_test").mkdir()
  (tmp_path / "mnist_m_train_labels.txt").write_text("a.png 1\n")
  out = tmp_path / "run"
  assert cli.main(["train", "pixelda", "--source", "tfds:mnist", "--target", f"folder:{tmp_path}",
                   "--out", str(out), "--no-progress"]) == 2
  err = capsys.readouterr().err
  assert "mnist_m_test_labels.txt missing" in err and "needed for evaluation" in err
  assert not out.exists()
