"""Faults the run layer survives, each found by trying the loops as a demanding user would: kills,
damaged files, a full disk, concurrent runs, bad flags. A kill, a full disk or a damaged file loses
nothing, and the user sees one line, not a library's traceback."""

import errno
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import chex
import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp
import pytest

from jaxgan import cli as gan_cli
from jaxgan import program
from jaxgan.algos import METHODS
from jaxrl import cli as rl_cli
from jaxrl.methods import METHODS as RL_METHODS
from jaxrun import LoopConfig, TrainingDivergedError, files, run
from jaxrun.checkpoints import Checkpoints
from jaxrun.errors import RunError, TrainingFailed

WGAN = ["train", "wgan", "--dataset", "ring8", "--hidden", "16", "--batch-size", "32",
        "--warmup-iterations", "0", "--warmup-every", "0", "--log-every", "2",
        "--checkpoint-every", "4", "--sample-every", "0", "--no-evaluate", "--no-progress"]
DQN = ["train", "dqn", "--env", "CartPole-v1", "--steps", "2000", "--seeds", "2",
       "--learning-starts", "500", "--batch-size", "32", "--buffer-size", "1000", "--log-every",
       "500", "--checkpoint-every", "1000", "--eval-every", "0", "--no-progress"]


def _wgan(out, steps=8, **loop):
  loop = LoopConfig(steps=steps, log_every=2, checkpoint_every=4, sample_every=0, evaluate=False,
                    **loop)
  return run.Run.new(METHODS.get("wgan"), str(out), settings=program.DataSettings("ring8"),
                     overrides={"hidden": (16,), "batch_size": 32, "warmup_iterations": 0,
                                "warmup_every": 0}, loop=loop)


def _one_line(capsys) -> str:
  err = capsys.readouterr().err.strip()
  assert len(err.splitlines()) == 1 and "Traceback" not in err, err
  return err


@pytest.fixture(scope="module")
def wgan_run(tmp_path_factory):
  """A finished 8-step WGAN run (checkpoints at 4 and 8) and its final state."""
  out = tmp_path_factory.mktemp("wgan") / "run"
  state, _ = run.train(_wgan(out), progress=False)
  return str(out), state


def _copy(src, tmp_path) -> str:
  dst = str(tmp_path / "copy")
  shutil.copytree(src, dst)
  return dst


def test_a_record_of_another_version_is_one_line(tmp_path, capsys, wgan_run):
  out = _copy(wgan_run[0], tmp_path)
  with open(os.path.join(out, "config.json"), "w") as f:  # the layout before the run layer
    json.dump({"run": {"method": "wgan"}, "algo": {}}, f)
  assert gan_cli.main(["train", "wgan", "--out", out, "--resume"]) == 2
  assert "is not a run record of this version" in _one_line(capsys)


def test_an_unexpected_error_keeps_its_traceback(tmp_path):
  """A bug is not bad input: it is not turned into a one-line message."""
  def bug(step, state, m):
    raise ValueError("a bug")

  with pytest.raises(TrainingFailed, match="a bug") as e:
    run.train(_wgan(tmp_path / "bug"), progress=False, on_chunk=bug)
  assert isinstance(e.value.__cause__, ValueError)


# ---- resume keeps what was saved --------------------------------------------------------------


def test_resume_without_steps_finishes_the_saved_length(tmp_path, capsys, wgan_run):
  out = tmp_path / "killed"

  def kill(step, state, m):
    if step >= 6:
      raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    run.train(_wgan(out), progress=False, on_chunk=kill)
  record = open(out / "config.json").read()
  assert gan_cli.main(["train", "wgan", "--out", str(out), "--resume", "--no-progress"]) == 0
  assert json.loads(capsys.readouterr().out.splitlines()[-1])["step"] == 8
  assert open(out / "config.json").read() == record
  # A finished run resumed without --steps stays finished, its record as it was.
  assert gan_cli.main(["train", "wgan", "--out", str(out), "--resume", "--no-progress"]) == 0
  assert open(out / "config.json").read() == record
  _, _, state = run.reopen(str(out), METHODS)
  chex.assert_trees_all_equal(state, wgan_run[1])


def test_resume_refuses_flags_that_disagree_with_the_saved_run(tmp_path, capsys, wgan_run):
  out = _copy(wgan_run[0], tmp_path)
  before = open(os.path.join(out, "config.json")).read()
  assert gan_cli.main(["train", "gan", "--out", out, "--resume"]) == 2
  assert "method gan (saved: wgan)" in _one_line(capsys)
  assert gan_cli.main(["train", "wgan", "--out", out, "--resume", "--dataset", "digits",
                       "--log-every", "5", "--clip", "0.5", "--hidden", "16"]) == 2
  err = _one_line(capsys)
  for said in ("--dataset digits (saved: ring8)", "--log-every 5 (saved: 2)",
               "--clip 0.5 (saved: 0.1)"):
    assert said in err
  assert "--hidden" not in err  # the same value as saved is no conflict
  assert open(os.path.join(out, "config.json")).read() == before


def test_dqn_resume_refuses_another_environment_or_number_of_seeds(tmp_path, capsys):
  out = str(tmp_path / "dqn")
  assert rl_cli.main([*DQN, "--out", out]) == 0
  capsys.readouterr()
  assert rl_cli.main(["train", "dqn", "--out", out, "--resume", "--env", "Acrobot-v1",
                      "--seeds", "3"]) == 2
  err = _one_line(capsys)
  assert "--env Acrobot-v1 (saved: CartPole-v1)" in err and "--seeds 3 (saved: 2)" in err


# ---- metrics.jsonl ----------------------------------------------------------------------------


def test_a_torn_last_line_is_dropped_on_resume(tmp_path, wgan_run):
  out = _copy(wgan_run[0], tmp_path)
  with open(os.path.join(out, "metrics.jsonl"), "a") as f:
    f.write('{"step": 9, "wasserstein": 0.1')  # a kill (or a full disk) in mid-line
  run.resume(out, METHODS, steps=12, progress=False)
  rows = files.read_jsonl(os.path.join(out, "metrics.jsonl"))
  assert [r["step"] for r in rows] == list(range(1, 13))


def test_a_damaged_line_elsewhere_is_reported_with_file_and_line(tmp_path, capsys, wgan_run):
  out = _copy(wgan_run[0], tmp_path)
  path = os.path.join(out, "metrics.jsonl")
  lines = open(path).read().splitlines(keepends=True)
  lines[2] = '{"step": 3, "wass\n'
  open(path, "w").writelines(lines)
  before = open(path).read()
  assert gan_cli.main(["train", "wgan", "--out", out, "--resume", "--steps", "12",
                       "--no-progress"]) == 1
  assert "metrics.jsonl, line 3, is damaged" in _one_line(capsys)
  assert open(path).read() == before  # nothing lost


def test_rewriting_metrics_is_atomic(tmp_path, monkeypatch, wgan_run):
  """A kill while the resume rewrites metrics.jsonl leaves the old file whole."""
  out = _copy(wgan_run[0], tmp_path)
  path = os.path.join(out, "metrics.jsonl")
  before = open(path).read()

  def killed(*args):
    raise KeyboardInterrupt

  monkeypatch.setattr(os, "replace", killed)
  with pytest.raises(KeyboardInterrupt):
    files.RunDir(out).truncate_metrics(4)
  monkeypatch.undo()
  assert open(path).read() == before
  assert sorted(os.listdir(out)) == sorted(os.listdir(wgan_run[0]))  # no temporary file left


# ---- checkpoints --------------------------------------------------------------------------------


def _damage(step_dir: str, how: str) -> None:
  default = os.path.join(step_dir, "default")
  if how == "truncated data files":  # every copy of the array data, cut to a third
    for data in glob.glob(os.path.join(default, "**", "d", "*"), recursive=True):
      with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) // 3)
  elif how == "no default/":
    shutil.rmtree(default)
  elif how == "no ocdbt.process_0/ nor d/":  # the array data is gone
    shutil.rmtree(os.path.join(default, "ocdbt.process_0"))
    shutil.rmtree(os.path.join(default, "d"))
  elif how == "truncated _METADATA":
    with open(os.path.join(default, "_METADATA"), "r+b") as f:
      f.truncate(50)


@pytest.mark.parametrize("how", ["truncated data files", "no default/", "no ocdbt.process_0/ nor d/",
                                 "truncated _METADATA"])
def test_a_damaged_latest_checkpoint_falls_back_to_the_one_before(how, tmp_path, capsys, wgan_run):
  out = _copy(wgan_run[0], tmp_path)
  _damage(os.path.join(out, "checkpoints", "8"), how)
  assert gan_cli.main(["train", "wgan", "--out", out, "--resume", "--no-progress"]) == 0
  out_text, err = capsys.readouterr()
  assert "checkpoint 8 does not restore" in err and "resuming from checkpoint 4" in err
  # The two notes, then the run's line of where its seconds went (phases under 0.05 s unnamed).
  lines = err.splitlines()
  assert "Traceback" not in err and "Exception ignored" not in err and len(lines) == 3
  assert lines[-1].startswith("jaxgan: ")
  assert "restore" in json.loads(out_text.splitlines()[-1])["phases"]
  assert os.path.isdir(os.path.join(out, "checkpoints-damaged", "8"))  # kept, set aside
  _, _, state = run.reopen(out, METHODS)
  chex.assert_trees_all_equal(state, wgan_run[1])  # replayed from step 4: the same run


def test_a_checkpoint_with_non_finite_values_is_passed_over(tmp_path, capsys, wgan_run):
  out = _copy(wgan_run[0], tmp_path)
  r, prog, state = run.reopen(out, METHODS)
  from jaxrun.checkpoints import Checkpoints

  ckpt = Checkpoints(os.path.join(out, "checkpoints"), 5)
  ckpt.save(10, jax.tree.map(lambda x: x * jnp.nan if jnp.issubdtype(x.dtype, jnp.floating) else x,
                             state))
  ckpt.close()
  resumed, _ = run.resume(out, METHODS, steps=10, progress=False)
  err = capsys.readouterr().err
  assert "checkpoint 10 holds non-finite values" in err and "resuming from checkpoint 8" in err
  assert os.path.isdir(os.path.join(out, "checkpoints-damaged", "10"))
  expected, _ = run.resume(_copy(wgan_run[0], tmp_path / "x"), METHODS, steps=10, progress=False)
  chex.assert_trees_all_equal(resumed, expected)  # steps 9 and 10 trained from the good state


def test_none_restores_is_refused_clearly(tmp_path, capsys, wgan_run):
  out = _copy(wgan_run[0], tmp_path)
  for step in ("4", "8"):
    _damage(os.path.join(out, "checkpoints", step), "no default/")
  assert gan_cli.main(["train", "wgan", "--out", out, "--resume", "--no-progress"]) == 1
  err = _one_line(capsys)
  assert "no checkpoint of" in err and "checkpoint 8 does not restore" in err
  assert sorted(os.listdir(os.path.join(out, "checkpoints"))) == ["4", "8"]  # nothing moved


# ---- the run directory ------------------------------------------------------------------------


def test_a_second_training_into_the_same_directory_is_refused(tmp_path, capsys):
  out = str(tmp_path / "busy")
  holder = files.RunDir(out)
  holder.lock()  # as a training in another process holds it
  try:
    assert gan_cli.main([*WGAN, "--steps", "2", "--out", out]) == 2
    assert f"in use by another training (pid {os.getpid()})" in _one_line(capsys)
    assert os.listdir(out) == [".lock"]
  finally:
    holder.unlock()
  assert gan_cli.main([*WGAN, "--steps", "2", "--out", out]) == 0  # free again


def test_checkpoints_without_a_record_still_mean_a_run(tmp_path, capsys, wgan_run):
  out = _copy(wgan_run[0], tmp_path)
  os.remove(os.path.join(out, "config.json"))
  assert gan_cli.main([*WGAN, "--steps", "2", "--out", out]) == 2
  err = _one_line(capsys)
  assert "already holds a run" in err and "checkpoints" in err


def test_a_run_killed_before_its_first_checkpoint_resumes_from_step_0(tmp_path, capsys, wgan_run):
  out = str(tmp_path / "early")

  def kill(step, state, m):
    raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt) as killed:
    run.train(_wgan(out), progress=False, on_chunk=kill)
  assert killed.value.checkpoint is None
  assert gan_cli.main([*WGAN, "--steps", "8", "--out", out]) == 2
  assert "already holds a run" in _one_line(capsys)
  assert gan_cli.main(["train", "wgan", "--out", out, "--resume", "--no-progress"]) == 0
  assert "no checkpoint yet: starting from step 0" in capsys.readouterr().err
  _, _, state = run.reopen(out, METHODS)
  chex.assert_trees_all_equal(state, wgan_run[1])


def test_a_divergence_before_any_checkpoint_says_so(tmp_path):
  def poison(step, state, m):
    return state, {**m, "wasserstein": m["wasserstein"] * jnp.nan}

  with pytest.raises(TrainingDivergedError, match="No checkpoint had been written yet") as e:
    run.train(_wgan(tmp_path / "nan"), progress=False, on_chunk=poison)
  assert "wasserstein" in str(e.value) and "step None" not in str(e.value)


def test_resume_finishes_what_a_kill_after_the_last_checkpoint_left_undone(tmp_path):
  """DQN killed after its final checkpoint, before eval.json: --resume writes it (and the curves),
  the same evaluation an uninterrupted run writes."""
  out = str(tmp_path / "dqn")
  assert rl_cli.main([*DQN, "--out", out]) == 0
  evaluation = json.load(open(os.path.join(out, "eval.json")))
  for name in ("eval.json", "curves.png"):
    os.remove(os.path.join(out, name))
  run.resume(out, RL_METHODS, progress=False)
  assert json.load(open(os.path.join(out, "eval.json"))) == evaluation
  assert os.path.exists(os.path.join(out, "curves.png"))


def test_a_full_disk_is_one_line_and_leaves_no_partial_checkpoint(tmp_path, capsys, monkeypatch):
  save = ocp.CheckpointManager.save

  def full(self, step, *args, **kwargs):
    if step >= 8:  # orbax has begun the write, then the disk is full
      os.makedirs(os.path.join(str(self.directory), f"{step}.orbax-checkpoint-tmp-1"))
      raise OSError(errno.ENOSPC, "No space left on device", str(self.directory))
    return save(self, step, *args, **kwargs)

  monkeypatch.setattr(ocp.CheckpointManager, "save", full)
  out = str(tmp_path / "full")
  assert gan_cli.main([*WGAN, "--steps", "12", "--out", out]) == 1
  err = _one_line(capsys)
  assert "no space left on the device while writing" in err
  assert "the last complete checkpoint is step 4" in err and "--resume" in err
  assert sorted(os.listdir(os.path.join(out, "checkpoints"))) == ["4"]
  monkeypatch.undo()
  assert gan_cli.main(["train", "wgan", "--out", out, "--resume", "--no-progress"]) == 0


def test_a_full_disk_during_an_asynchronous_write_is_one_error_naming_its_step(tmp_path, monkeypatch):
  """An asynchronous save returns before the write; the write's failure comes out of the next wait,
  as the RunError naming the step it was writing, and the step before it is kept."""
  checkpoints = Checkpoints(str(tmp_path / "c"), keep=3, asynchronous=True)
  state = {"w": jnp.arange(4.0)}
  checkpoints.save(4, state)
  checkpoints.save(8, state)  # waits for step 4's write first

  def full(self):
    raise OSError(errno.ENOSPC, "No space left on device")

  monkeypatch.setattr(ocp.CheckpointManager, "wait_until_finished", full)
  with pytest.raises(RunError, match="no space left on the device while writing") as e:
    checkpoints.wait()
  assert os.path.join(str(tmp_path / "c"), "8") in str(e.value)
  monkeypatch.undo()
  assert 4 in checkpoints.steps()
  checkpoints.wait()  # the failure was reported once
  checkpoints.close()


def test_ctrl_c_while_waiting_for_a_write_is_delivered_after_it(tmp_path, monkeypatch):
  """Ctrl-C inside orbax's wait would make it log a traceback and forget the step being written
  (CI saw "last checkpoint: step 4" with step 8's write under way): the interrupt is held until
  the write is complete, and the step is kept."""
  thread = ocp.checkpoint_manager._FinalizeThread
  run, join = thread.run, thread.join

  def slow_run(self):
    time.sleep(0.3)  # the write is still under way when the wait begins
    run(self)

  monkeypatch.setattr(thread, "run", slow_run)
  checkpoints = Checkpoints(str(tmp_path / "c"), keep=3, asynchronous=True)
  checkpoints.save(4, {"w": jnp.arange(4.0)})

  def interrupted_join(self, *args, **kwargs):
    signal.raise_signal(signal.SIGINT)  # as a Ctrl-C arriving while the main thread waits
    return join(self, *args, **kwargs)

  monkeypatch.setattr(thread, "join", interrupted_join)
  previous = signal.signal(signal.SIGINT, signal.default_int_handler)
  try:
    with pytest.raises(KeyboardInterrupt):
      checkpoints.wait()
  finally:
    signal.signal(signal.SIGINT, previous)
  monkeypatch.undo()
  assert checkpoints.latest() == 4 and checkpoints.steps() == [4]
  checkpoints.close()


def test_ctrl_c_says_where_the_run_stands_and_how_to_continue(tmp_path):
  out = str(tmp_path / "long")
  cmd = [sys.executable, "-m", "jaxgan.cli", *WGAN, "--steps", "100000", "--out", out]
  # Ctrl-C as in a terminal: a suite started in the background (`pytest &`) has SIGINT ignored,
  # and a child inherits that, so the run is started with the default action back.
  proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "JAX_PLATFORMS": "cpu"},
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
  try:
    metrics = os.path.join(out, "metrics.jsonl")
    deadline = time.time() + 120
    while time.time() < deadline and (not os.path.exists(metrics) or
                                      len(open(metrics).read().splitlines()) < 12):
      time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
  finally:
    proc.kill()  # never left training 100,000 steps behind a failed test
  assert proc.returncode == 130, err
  lines = err.strip().splitlines()
  assert len(lines) == 1 and "Traceback" not in err, err
  assert lines[0].startswith("jaxgan: interrupted at step ") and "(last checkpoint: step " in lines[0]
  assert lines[0].endswith(f"continue with: jaxgan train wgan --out {out} --resume")
  step = int(lines[0].split("interrupted at step ")[1].split()[0])
  assert gan_cli.main(["train", "wgan", "--out", out, "--resume", "--steps", str(step),
                       "--no-progress"]) == 0
  # Killed in another process, resumed in this one: the run an unbroken one makes.
  unbroken, _ = run.train(_wgan(tmp_path / "unbroken", steps=step), progress=False)
  chex.assert_trees_all_equal(run.reopen(out, METHODS)[2], unbroken)


# ---- messages where tracebacks were --------------------------------------------------------------


def test_a_run_of_the_other_tool_is_named(tmp_path, capsys, wgan_run):
  dqn_dir = str(tmp_path / "dqn")
  assert rl_cli.main([*DQN, "--steps", "1000", "--out", dqn_dir]) == 0
  capsys.readouterr()
  assert rl_cli.main(["eval", wgan_run[0]]) == 2
  assert "holds a jaxgan wgan run" in _one_line(capsys)
  for argv in (["eval", dqn_dir], ["sample", dqn_dir, "--out", str(tmp_path / "s.png")]):
    assert gan_cli.main(argv) == 2
    assert "holds a jaxrl dqn run" in _one_line(capsys)


@pytest.mark.parametrize("argv, message", [
    (["--n", "0"], "--n must be >= 1"),
    (["--interpolate", "a red circle", "a blue square", "--steps", "0"], "--steps must be >= 1"),
])
def test_bad_sample_flags(argv, message, tmp_path, capsys, wgan_run):
  assert gan_cli.main(["sample", wgan_run[0], "--out", str(tmp_path / "s.png"), *argv]) == 2
  assert message in _one_line(capsys)


def test_an_out_that_is_a_file_or_under_one(tmp_path, capsys):
  a_file = tmp_path / "file"
  a_file.write_text("not a run")
  for out, message in ((a_file, "is a file, not a directory"), (a_file / "run", "lies under the file")):
    assert gan_cli.main([*WGAN, "--out", str(out)]) == 2
    assert message in _one_line(capsys)
    assert rl_cli.main([*DQN, "--out", str(out)]) == 2
    assert message in _one_line(capsys)
  assert a_file.read_text() == "not a run"


def test_a_read_only_place_is_one_line(tmp_path, capsys, monkeypatch, wgan_run):
  def read_only(path, *args, **kwargs):
    raise OSError(errno.EROFS, "Read-only file system", str(path))

  monkeypatch.chdir(tmp_path)
  monkeypatch.setattr(os, "makedirs", read_only)
  assert gan_cli.main(["train", "wgan", "--dataset", "ring8", "--no-progress"]) == 2
  assert "cannot write runs/wgan-ring8: Read-only file system" in _one_line(capsys)
  assert gan_cli.main(["sample", wgan_run[0], "--out", "ro/s.png"]) == 2
  assert "Read-only file system" in _one_line(capsys)


def test_an_unknown_environment_is_named_before_any_check_that_depends_on_it(tmp_path, capsys):
  assert rl_cli.main(["train", "dqn", "--env", "NoSuchEnv-v0", "--steps", "10",
                      "--out", str(tmp_path / "r")]) == 2
  assert "unknown environment 'NoSuchEnv-v0'" in _one_line(capsys)


def test_a_full_disk_while_writing_a_file_is_one_line(tmp_path, capsys, monkeypatch):
  """The disk fills while the end-of-run files are written (every run-directory file is written
  to a temporary file, flushed, then renamed): one line, the checkpoints whole."""
  def full(fd):
    raise OSError(errno.ENOSPC, "No space left on device")

  out = str(tmp_path / "full")
  argv = [*WGAN, "--steps", "8", "--out", out]
  real_fsync = os.fsync
  monkeypatch.setattr(os, "fsync", lambda fd: full(fd) if os.path.exists(
      os.path.join(out, "checkpoints", "8")) else real_fsync(fd))
  assert gan_cli.main(argv) == 1
  err = _one_line(capsys)
  assert "no space left on the device while writing" in err
  assert "the last complete checkpoint is step 8" in err
  assert not [n for n in os.listdir(out) if ".tmp" in n]  # no partial file left behind


def test_a_damaged_classifier_file_is_trained_again(tmp_path, monkeypatch):
  from jaxgan import data, metrics
  from jaxgan.metrics import classifier as classifier_lib

  digits = data.load("digits", 8)
  module = classifier_lib.ConvClassifier(digits.num_classes)
  params = module.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))["params"]
  trained = []
  monkeypatch.setattr(classifier_lib, "train_classifier", lambda dataset: trained.append(1) or
                      classifier_lib.Classifier(module, params, 0.5))
  path = str(tmp_path / "classifier.msgpack")
  first = metrics.load_or_train_classifier(digits, path)
  assert metrics.load_or_train_classifier(digits, path).test_accuracy == 0.5 and len(trained) == 1
  with open(path, "r+b") as f:  # cut short, as a kill or a full disk would
    f.truncate(os.path.getsize(path) // 2)
  again = metrics.load_or_train_classifier(digits, path)
  assert len(trained) == 2 and again.test_accuracy == first.test_accuracy
  assert metrics.load_or_train_classifier(digits, path).test_accuracy == 0.5 and len(trained) == 2
