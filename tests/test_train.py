import json
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import GANConfig, WGANConfig, cli
from jaxgan import train as T
from jaxgan.algos import METHODS, wgan

# Small, with the official critic schedule (100-iteration phases, here 5) so that resuming
# crosses it.
TOY_WGAN = WGANConfig.toy(hidden=(32, 32), batch_size=64, n_critic_warmup=5, warmup_iterations=25,
                          warmup_every=500)


def _run(**kw):
  kw = {"method": "wgan", "dataset": "ring8", "steps": 100, "log_every": 25, "sample_every": 1000,
        "checkpoint_every": 25, "evaluate": False, **kw}
  return T.RunConfig(**kw)


def _lines(out):
  with open(os.path.join(out, "metrics.jsonl")) as f:
    return f.read().splitlines()


def test_killed_and_resumed_run_equals_uninterrupted_run_bitwise(tmp_path, monkeypatch):
  full, _ = T.train(_run(), TOY_WGAN, out=str(tmp_path / "full"), progress=False)

  # Kill the second run in its fourth chunk (steps 75..100): its last checkpoint is step 50 + 25.
  make_chunk = T.make_chunk

  def killing_make_chunk(*a, **kw):
    chunk = make_chunk(*a, **kw)

    def run(state, *args):
      if int(state.step) >= 50:
        raise KeyboardInterrupt
      return chunk(state, *args)
    return run

  monkeypatch.setattr(T, "make_chunk", killing_make_chunk)
  with pytest.raises(KeyboardInterrupt):
    T.train(_run(checkpoint_every=50), TOY_WGAN, out=str(tmp_path / "killed"), progress=False)
  monkeypatch.setattr(T, "make_chunk", make_chunk)
  assert len(_lines(tmp_path / "killed")) == 50
  resumed, _ = T.train(None, out=str(tmp_path / "killed"), resume=True, progress=False)
  assert int(resumed.step) == 100
  chex.assert_trees_all_equal(resumed, full)  # bitwise
  assert _lines(tmp_path / "killed") == _lines(tmp_path / "full")


def test_resume_extends_a_finished_run_and_truncates_the_log(tmp_path):
  out = str(tmp_path / "r")
  T.train(_run(steps=50), TOY_WGAN, out=out, progress=False)
  with open(os.path.join(out, "metrics.jsonl"), "a") as f:  # lines written after the checkpoint
    f.write(json.dumps({"step": 51, "wasserstein": 0.0}) + "\n")
  state, _ = T.train(None, out=out, resume=True, steps=75, progress=False)
  assert int(state.step) == 75
  assert [json.loads(line)["step"] for line in _lines(out)] == list(range(1, 76))
  run, config, restored = T.restore_state(out)
  assert run.steps == 75 and config == TOY_WGAN
  chex.assert_trees_all_equal(restored, state)


def test_training_speed_leaves_out_the_chunks_that_compiled(tmp_path, monkeypatch):
  class Clock:  # each reading one second after the last
    now = 0.0

    def perf_counter(self):
      self.now += 1.0
      return self.now

  monkeypatch.setattr(T, "time", Clock())
  # Four chunks of 25: the first compiles, three are timed at one second each.
  _, m = T.train(_run(), TOY_WGAN, out=str(tmp_path / "a"), progress=False)
  assert m["steps_per_s"] == 75 / 3
  # Chunks of 25 and 5: both compile, so there is no compile-free speed to report.
  _, m = T.train(_run(steps=30), TOY_WGAN, out=str(tmp_path / "b"), progress=False)
  assert "steps_per_s" not in m and m["seconds"] > 0


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
  step = wgan.train_step

  def poisoned(state, data, key, axis_name=None):
    state, metrics = step(state, data, key, axis_name)
    bad = jnp.where(state.step > 30, jnp.nan, 1.0)
    return state.replace(generator=state.generator.replace(
        params=jax.tree.map(lambda p: p * bad, state.generator.params))), metrics

  monkeypatch.setattr(wgan, "train_step", poisoned)
  out = str(tmp_path / "nan")
  with pytest.raises(T.TrainingDivergedError, match="last good checkpoint \\(step 25\\)"):
    T.train(_run(), TOY_WGAN, out=out, progress=False)
  monkeypatch.undo()
  _, _, state = T.restore_state(out)
  assert int(state.step) == 25
  assert all(np.all(np.isfinite(p)) for p in jax.tree.leaves(state.generator.params))


def test_cgan_grid_has_one_row_per_class(tmp_path):
  run = _run(method="cgan", dataset="digits", steps=2, log_every=2, evaluate=False)
  state, _ = T.train(run, GANConfig.mirza((16, 16, 1), 10, batch_size=20), out=str(tmp_path / "c"),
                     progress=False)
  calls = []
  monkey_grid = lambda images, path, ncols: calls.append((np.asarray(images), ncols))
  orig, T.plots.image_grid = T.plots.image_grid, monkey_grid
  try:
    T.sample_grid("cgan", state, jax.random.key(0), T.load_dataset(run), "unused.png")
  finally:
    T.plots.image_grid = orig
  images, ncols = calls[0]
  assert images.shape == (100, 16, 16, 1) and ncols == 10
  # Row r was asked for class r: the same noise column across rows differs only by the label.
  assert not np.allclose(images[0], images[10])


@pytest.mark.parametrize("argv,message", [
    (["train", "gan", "--dataset", "nope"], "unknown dataset"),
    (["train", "wgan", "--clip", "0"], "clip must be > 0"),
    (["train", "wgan", "--clip", "-0.01"], "clip must be > 0"),
    (["train", "wgan", "--n-critic", "0"], "n_critic must be >= 1"),
    (["train", "gan", "--k", "0"], "k (discriminator steps"),
    (["train", "wgan", "--batch-size", "5000"], "larger than the 1257 training examples"),
    (["train", "wgan", "--image-size", "8"], "multiple of 16"),
    (["train", "wgan", "--dataset", "ring8", "--image-size", "16"], "2-D point dataset"),
    (["train", "cgan", "--dataset", "ring8"], "needs class labels"),
    (["train", "gan", "--clip", "0.1"], "applies to wgan"),
    (["train", "wgan", "--steps", "0"], "steps must be >= 1"),
])
def test_bad_input_fails_early_with_a_clear_message(argv, message, tmp_path, capsys):
  out = tmp_path / "run"
  assert cli.main([*argv, "--out", str(out), "--no-progress"]) == 2
  assert message in capsys.readouterr().err
  assert not os.path.exists(out / "checkpoints")  # no work done


def test_unknown_method_is_refused(capsys):
  with pytest.raises(SystemExit):
    cli.main(["train", "dcgan"])
  assert "invalid choice" in capsys.readouterr().err
  with pytest.raises(ValueError, match="unknown method"):
    T.RunConfig("dcgan", "digits", 10)


def test_existing_run_needs_resume(tmp_path, capsys):
  out = str(tmp_path / "r")
  argv = ["train", "wgan", "--dataset", "ring8", "--steps", "2", "--log-every", "2", "--batch-size",
          "32", "--hidden", "16", "--no-warmup", "--no-eval", "--no-progress", "--out", out]
  assert cli.main(argv) == 0
  assert json.loads(capsys.readouterr().out.splitlines()[-1])["out"] == out
  assert cli.main(argv) == 2
  assert "--resume" in capsys.readouterr().err
  assert cli.main(["train", "wgan", "--out", out, "--resume", "--steps", "4", "--no-progress"]) == 0
  assert cli.main(["sample", out, "--out", str(tmp_path / "s.png")]) == 0
  assert os.path.getsize(tmp_path / "s.png") > 0
  capsys.readouterr()
  assert cli.main(["eval", out]) == 0
  result = json.loads(capsys.readouterr().out)
  assert result["step"] == 4 and result["num_modes"] == 8


@pytest.mark.slow
def test_short_ring8_run_covers_at_least_6_of_8_modes(tmp_path, capsys):
  """The WGAN toy preset through the command line, 5,000 generator iterations: mode coverage by
  PacGAN's rule (>= 20 of 2,500 samples within 3 std of the mode)."""
  out = str(tmp_path / "ring8")
  assert cli.main(["train", "wgan", "--dataset", "ring8", "--steps", "5000", "--log-every", "1000",
                   "--sample-every", "5000", "--checkpoint-every", "5000", "--no-progress",
                   "--out", out]) == 0
  result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["eval"]
  assert result["num_modes"] == 8
  assert result["modes"] >= 6, result
