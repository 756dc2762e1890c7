"""jaxgan's runs: sample figures, the command line's checks, training speed without compilation,
what the phases count as compiling, and a short run that learns (the loop's guarantees for every
method: tests/test_run_layer.py)."""

import json
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import GANConfig, WGANConfig, cli, generators, program
from jaxgan.algos import METHODS
from jaxrun import LoopConfig, files, run
from jaxrun import loop as loop_lib

TOY_WGAN = WGANConfig.toy(hidden=(32, 32), batch_size=64, n_critic_warmup=5)


def _run(out, method="wgan", dataset="ring8", config=TOY_WGAN, **loop):
  loop = {"steps": 100, "log_every": 25, "sample_every": 0, "checkpoint_every": 25,
          "evaluate": False, **loop}
  return run.Run.new(METHODS.get(method), str(out), settings=program.DataSettings(dataset),
                     config=config, loop=LoopConfig(**loop))


class Clock:
  """A clock for the run layer's timings: each reading ``tick`` seconds after the last."""

  def __init__(self, tick: float = 1.0):
    self.now, self.tick = 0.0, tick

  def __call__(self):
    self.now += self.tick
    return self.now


def test_training_speed_leaves_out_the_chunks_that_compiled(tmp_path):
  # Four chunks of 25: the first compiles, three are timed at one second each.
  _, summary = run.train(_run(tmp_path / "a"), progress=False, clock=Clock())
  assert summary["steps_per_s"] == 75 / 3
  # Chunks of 25 and 5: both compile, so there is no compile-free speed to report.
  _, summary = run.train(_run(tmp_path / "b", steps=30), progress=False, clock=Clock())
  assert "steps_per_s" not in summary and summary["seconds"] > 0


def test_a_resumed_run_counts_its_seconds_on_from_those_it_logged(tmp_path):
  out = str(tmp_path / "r")
  run.train(_run(out, steps=50), progress=False, clock=Clock(100.0))
  before = files.read_jsonl(os.path.join(out, "metrics.jsonl"))[-1]["seconds"]
  clock = Clock(1.0)  # (the whole resume reads it far fewer than 100 times)
  _, summary = run.resume(out, METHODS, steps=75, progress=False, clock=clock)
  assert before >= 100 and before + 1 <= summary["seconds"] <= before + clock.now


def test_resume_extends_a_finished_run_and_keeps_its_length_otherwise(tmp_path):
  out = str(tmp_path / "r")
  run.train(_run(out, steps=50), progress=False)
  with open(os.path.join(out, "metrics.jsonl"), "a") as f:  # a line logged after the checkpoint
    f.write(json.dumps({"step": 51, "wasserstein": 0.0}) + "\n")
  state, _ = run.resume(out, METHODS, progress=False)  # no --steps: the saved length stands
  assert int(state.step) == 50 and json.load(open(f"{out}/config.json"))["loop"]["steps"] == 50
  state, _ = run.resume(out, METHODS, steps=75, progress=False)
  assert int(state.step) == 75
  with open(os.path.join(out, "metrics.jsonl")) as f:
    assert [json.loads(line)["step"] for line in f] == list(range(1, 76))
  r, _, restored = run.reopen(out, METHODS)
  assert r.loop.steps == 75 and r.config == TOY_WGAN and int(restored.step) == 75


def test_cgan_grid_has_one_row_per_class(tmp_path, monkeypatch):
  config = GANConfig.mirza((16, 16, 1), 10, batch_size=20)
  r = _run(tmp_path / "c", "cgan", "digits", config, steps=2, log_every=2)
  state, _ = run.train(r, progress=False)
  prog, calls, asked = r.program(), [], []
  monkeypatch.setattr(generators.plots, "image_grid",
                      lambda images, path, ncols: calls.append((np.asarray(images), ncols)))
  generate = prog.generate
  monkeypatch.setattr(prog, "generate", lambda s, key, n, labels=None: asked.append(labels) or
                      generate(s, key, n, labels))
  prog.figure(state, "unused.png", jax.random.key(0))
  images, ncols = calls[0]
  assert images.shape == (100, 16, 16, 1) and ncols == 10
  np.testing.assert_array_equal(asked[0], np.repeat(np.arange(10), 10))  # row r asks for class r
  # The label reaches the generator: the same noise with another label is another image.
  same_noise = [generate(state, jax.random.key(1), 10, np.full(10, c)) for c in (0, 1, 0)]
  assert not np.allclose(same_noise[0], same_noise[1])
  np.testing.assert_array_equal(same_noise[0], same_noise[2])


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
    (["train", "gan", "--clip", "0.1"], "--clip (a flag of wgan) is not a flag of `jaxgan train gan`"),
    (["train", "wgan", "--steps", "0"], "steps must be >= 1"),
    (["train", "wgan", "--dataset", "ring8", "--hidden", "0"], "hidden widths must each be >= 1"),
    (["train", "gan", "--dataset", "shapes", "--max-examples", "0"], "max_examples must be >= 1"),
    (["train", "wgan", "--devices", "3"], "does not split over 3 devices"),
    (["train", "wgan", "--preset", "nature"], "unknown preset 'nature' for wgan"),
    (["train", "dcgan"], "unknown method 'dcgan'"),
    (["train", "wgan", "--seeds", "0"], "seeds must be >= 1"),
    (["train", "wgan", "--seed-layout", "grid"], "seed_layout must be one of ('vmap', 'loops'), got 'grid'"),
    (["train", "wgan", "--sweep", "width=32,64"], "width cannot be swept: it sets the networks"),
    (["train", "wgan", "--sweep", "gamma=0.9"], "gamma is not a hyperparameter of wgan. Sweepable: learning_rate, clip, n_critic"),
    (["train", "wgan", "--sweep", "clip=0.1,0"], "clip must be > 0"),
    (["train", "wgan", "--sweep", "clip=0.1,0.2", "--clip", "0.1"], "--clip and --sweep over clip both given"),
    (["train", "cgan", "--sweep", "generator_loss=saturating"], "generator_loss cannot be swept: it chooses the program's code"),
    (["train", "wgan", "--dataset", "ring8", "--seeds", "3", "--devices", "2"], "--devices (2) must divide the runs (1 configuration(s) x 3 seeds = 3)"),
])
def test_bad_input_fails_early_with_a_clear_message(argv, message, tmp_path, capsys):
  out = tmp_path / "run"
  assert cli.main([*argv, "--out", str(out), "--no-progress"]) == 2
  err = capsys.readouterr().err
  assert message in err and len(err.strip().splitlines()) == 1
  assert not out.exists()  # nothing written


def test_sample_and_eval_from_the_command_line(tmp_path, capsys):
  out = str(tmp_path / "r")
  argv = ["train", "wgan", "--dataset", "ring8", "--steps", "2", "--log-every", "2", "--batch-size",
          "32", "--hidden", "16", "--warmup-iterations", "0", "--warmup-every", "0", "--no-evaluate",
          "--no-progress", "--out", out]
  assert cli.main(argv) == 0
  assert json.loads(capsys.readouterr().out.splitlines()[-1])["out"] == out
  assert cli.main(["train", "wgan", "--out", out, "--resume", "--steps", "4", "--no-progress"]) == 0
  capsys.readouterr()
  assert cli.main(["sample", out, "--out", str(tmp_path / "s")]) == 0  # .png is added, and said
  assert capsys.readouterr().out.strip() == str(tmp_path / "s.png")
  assert os.path.getsize(tmp_path / "s.png") > 0
  assert cli.main(["eval", out]) == 0
  result = json.loads(capsys.readouterr().out)
  assert result["step"] == 4 and result["num_modes"] == 8
  for bad, message in ((["--n", "0"], "--n must be >= 1"),
                       (["--caption", "a red circle"], "sample a StackGAN run")):
    assert cli.main(["sample", out, "--out", str(tmp_path / "x.png"), *bad]) == 2
    assert message in capsys.readouterr().err
  assert not (tmp_path / "x.png").exists()


def _program_after(out, settings, seed, iterations, **overrides):
  r = run.Run.new(METHODS.get("wgan"), str(out), settings=settings,
                  overrides={"hidden": (32, 32), "batch_size": 64, **overrides},
                  loop=LoopConfig(steps=100, seed=seed, log_every=iterations))
  program_ = r.program()
  state, _ = program_.make_chunk(iterations)(program_.init())
  return program_, state


def test_seeds_and_a_sweep_train_what_each_standalone_run_trains(tmp_path):
  """--seeds 2 --sweep clip=0.05,0.1 --seed 3: run c * 2 + s has the keys of the standalone run
  --seed 3+s and its configuration's clip (a state array), so it trains what that run trains, to
  float32 rounding (the vmapped kernels round differently; WGAN's dynamics then amplify it)."""
  settings = program.DataSettings("ring8", seeds=2, sweep=("clip=0.05,0.1",))
  runs, swept = _program_after(tmp_path / "sweep", settings, 3, 6)
  assert [combo for combo, _ in runs.grid] == [{"clip": 0.05}, {"clip": 0.1}]
  assert np.asarray(swept.hyper["clip"]).tolist() == pytest.approx([0.05, 0.05, 0.1, 0.1])
  for c, (combo, _) in enumerate(runs.grid):
    for s in range(2):
      _, alone = _program_after(tmp_path / f"alone{c}{s}", program.DataSettings("ring8"), 3 + s, 6,
                                **combo)
      jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                   runs.run_state(swept, c * 2 + s).critic.params, alone.critic.params)
  crit = np.asarray(jax.tree.leaves(swept.critic.params)[0])
  assert np.abs(crit[0]).max() <= 0.05 + 1e-7 < np.abs(crit[2]).max()  # each run's own clip


def test_runs_split_over_devices_agree_with_one_device(tmp_path):
  """--devices 2 with several runs splits the runs (each device trains its own, the data whole)."""
  settings = dict(dataset="ring8", seeds=2, sweep=("clip=0.05,0.1",))
  _, one = _program_after(tmp_path / "one", program.DataSettings(**settings), 0, 4)
  _, split = _program_after(tmp_path / "two", program.DataSettings(**settings, devices=2), 0, 4)
  assert len(jax.tree.leaves(split.critic.params)[0].sharding.device_set) == 2
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
               one.critic.params, split.critic.params)


def test_with_the_loops_layout_each_run_is_bitwise_its_standalone_run(tmp_path):
  """--seed-layout loops: each run its own loop in the program. Seeds and a sweep's clip on one
  device and split over 2 give the standalone runs' bits (the vmapped layout: float32 rounding)."""
  loops = dict(dataset="ring8", seeds=2, sweep=("clip=0.05,0.1",), seed_layout="loops")
  runs, one = _program_after(tmp_path / "one", program.DataSettings(**loops), 3, 6)
  _, split = _program_after(tmp_path / "two", program.DataSettings(**loops, devices=2), 3, 6)
  chex.assert_trees_all_equal(split.critic.params, one.critic.params)
  for c, s in ((0, 0), (1, 1)):
    _, alone = _program_after(tmp_path / f"alone{c}{s}", program.DataSettings("ring8"), 3 + s, 6,
                              **runs.grid[c][0])
    chex.assert_trees_all_equal(runs.run_state(one, c * 2 + s).critic.params, alone.critic.params)
    chex.assert_trees_all_equal(runs.run_state(one, c * 2 + s).generator.params,
                                alone.generator.params)


def _equal(a, b) -> bool:
  return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_gan_sweeps_its_learning_rate_and_k_per_run(tmp_path):
  """The GAN's swept values are its state's arrays: run 1's discriminator takes 3 steps per
  iteration where run 0's takes 1, from the same keys (seed 0 both)."""
  r = run.Run.new(METHODS.get("gan"), str(tmp_path / "g"),
                  settings=program.DataSettings("ring8", sweep=("k=1,3",)),
                  overrides={"hidden": (16,), "batch_size": 32}, loop=LoopConfig(steps=4, log_every=2))
  runs = r.program()
  state = runs.init()
  assert np.asarray(state.hyper["k"]).tolist() == [1, 3]
  assert _equal(runs.run_state(state, 0).generator.params, runs.run_state(state, 1).generator.params)
  state, _ = runs.make_chunk(2)(state)
  assert not _equal(runs.run_state(state, 0).discriminator.params,
                        runs.run_state(state, 1).discriminator.params)
  count = jax.tree.leaves(state.discriminator.opt_state)[0]  # Adam's step count: 2 iterations x k
  assert np.asarray(count).tolist() == [2, 6]


def test_cli_seeds_and_sweep_report_each_configuration_over_its_seeds(tmp_path, capsys):
  out = str(tmp_path / "runs")
  assert cli.main(["train", "wgan", "--dataset", "ring8", "--steps", "4", "--log-every", "2",
                   "--hidden", "16", "--batch-size", "32", "--warmup-iterations", "0",
                   "--warmup-every", "0", "--seeds", "2", "--sweep", "clip=0.05,0.1",
                   "--no-progress", "--out", out]) == 0
  capsys.readouterr()
  with open(os.path.join(out, "eval.json")) as f:
    result = json.load(f)
  assert [c["clip"] for c in result["configurations"]] == [0.05, 0.1]
  for c in result["configurations"]:
    assert c["seeds"] == [0, 1] and len(c["per_seed"]) == 2 and c["per_seed"][0]["num_modes"] == 8
    modes = c["aggregate"]["modes"]
    assert modes["runs"] == 2 and modes["iqm_ci95"][0] <= modes["iqm"] <= modes["iqm_ci95"][1]
  with open(os.path.join(out, "metrics.jsonl")) as f:
    row = json.loads(f.readlines()[-1])
  assert row["step"] == 4 and len(row["wasserstein"]) == 4
  assert row["eval_modes"] == [r["modes"] for c in result["configurations"] for r in c["per_seed"]]
  for name in ("samples.png", "curves.png"):
    assert os.path.getsize(os.path.join(out, name)) > 0
  assert cli.main(["eval", out]) == 0
  assert len(json.loads(capsys.readouterr().out)["configurations"]) == 2
  assert cli.main(["sample", out, "--out", str(tmp_path / "s.png")]) == 0
  assert os.path.getsize(tmp_path / "s.png") > 0


@pytest.mark.slow
def test_short_ring8_run_covers_several_modes(tmp_path, capsys):
  """The WGAN toy preset through the command line, 3,000 generator iterations: mode coverage by
  PacGAN's rule (>= 20 of 2,500 samples within 3 std of the mode). Measured here on seeds 0-3:
  6, 3, 8 and 6 modes (high-quality share 0.19, 0.08, 0.22, 0.12); on another CPU seed 0 gave 7
  at 5,000. A collapsed GAN covers 1-2. The table over ten seeds is benchmarks/gan_quality.py's."""
  out = str(tmp_path / "ring8")
  assert cli.main(["train", "wgan", "--dataset", "ring8", "--steps", "3000", "--log-every", "1000",
                   "--sample-every", "3000", "--checkpoint-every", "3000", "--no-progress",
                   "--out", out]) == 0
  result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["eval"]
  assert result["num_modes"] == 8
  assert result["modes"] >= 4 and result["high_quality"] > 0.1, result


def test_phases_put_what_jax_spent_compiling_under_compiling():
  assert loop_lib.covered([(0.0, 1.0), (0.5, 2.0), (3.0, 4.0), (3.2, 3.5)]) == 3.0  # nested once
  phases = {}
  f = jax.jit(lambda x: jnp.sin(x) * 3.0 + 1.0)
  x = jnp.arange(7.0)
  with loop_lib.timed(phases, "training") as first:
    f(x).block_until_ready()
  assert 0 < first.compiling <= first.seconds
  assert phases["compiling"] == pytest.approx(first.compiling)
  assert phases["training"] == pytest.approx(first.seconds - first.compiling)
  with loop_lib.timed(phases, "training") as warm:  # compiled already: nothing moves
    f(x).block_until_ready()
  assert warm.compiling == 0 and phases["compiling"] == pytest.approx(first.compiling)
