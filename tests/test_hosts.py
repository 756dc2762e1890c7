"""Several processes training one run (jax.distributed): 2 local processes with 2 CPU devices each,
their collectives through gloo, against one process with 4 devices."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import chex
import numpy as np
import pytest

from jaxgan import program
from jaxgan.cli import METHODS
from jaxrun import LoopConfig, hosts, run

WGAN = ["train", "wgan", "--dataset", "ring8", "--hidden", "16", "--batch-size", "32",
        "--warmup-iterations", "0", "--warmup-every", "0", "--devices", "4", "--log-every", "2",
        "--checkpoint-every", "4", "--sample-every", "0", "--no-evaluate", "--no-progress"]


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _processes(args: list[str], cache: str, tool: str = "jaxgan") -> list[subprocess.Popen]:
  port = _free_port()
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_COMPILATION_CACHE_DIR": cache}
  return [subprocess.Popen([sys.executable, "-m", f"{tool}.cli", *args, "--coordinator",
                            f"localhost:{port}", "--num-processes", "2", "--process-id", str(i)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
          for i in range(2)]


def _wait(procs, timeout=240) -> list[tuple[int, str, str]]:
  """(return code, stdout, stderr) of each process; the pipes are read while waiting."""
  outputs = [p.communicate(timeout=timeout) for p in procs]
  return [(p.returncode, *o) for p, o in zip(procs, outputs)]


def _checkpoints(out: str) -> list[int]:
  path = os.path.join(out, "checkpoints")
  return sorted(int(n) for n in os.listdir(path) if n.isdigit()) if os.path.isdir(path) else []


def test_two_processes_killed_and_resumed_equal_one_process_on_four_devices(tmp_path):
  out, cache = str(tmp_path / "two"), str(tmp_path / "xla")
  procs = _processes([*WGAN, "--steps", "400", "--out", out], cache)
  deadline = time.time() + 240
  while time.time() < deadline and not _checkpoints(out) and all(p.poll() is None for p in procs):
    time.sleep(0.2)
  for p in procs:  # killed with no warning, in the middle of whatever it was doing
    p.send_signal(signal.SIGKILL)
  _wait(procs)
  assert _checkpoints(out), "no checkpoint was written before the kill"
  steps = _checkpoints(out)[-1] + 4
  results = _wait(_processes([*WGAN[:2], "--out", out, "--resume", "--steps", str(steps),
                              "--no-progress"], cache))
  for rc, stdout, stderr in results:
    assert rc == 0, stderr[-2000:]
  # The summary is stdout's last line (gloo prints its connections before it); process 1 prints none.
  assert json.loads(results[0][1].strip().splitlines()[-1])["step"] == steps
  assert not [line for line in results[1][1].splitlines() if line.startswith("{")]

  # One copy of each log: every row once, one event file per session (the killed one's and the
  # resume's), one writer of the lock.
  rows = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
  assert [r["step"] for r in rows] == list(range(1, steps + 1))
  events = [n for n in os.listdir(out) if n.startswith("events.out.tfevents")]
  assert len(events) == 2, events
  assert not [n for n in os.listdir(out) if ".tmp" in n]

  one = run.Run.new(METHODS.get("wgan"), str(tmp_path / "one"),
                    settings=program.DataSettings("ring8", devices=4),
                    overrides={"hidden": (16,), "batch_size": 32, "warmup_iterations": 0,
                               "warmup_every": 0},
                    loop=LoopConfig(steps=steps, log_every=2, checkpoint_every=4, sample_every=0,
                                    evaluate=False))
  expected, _ = run.train(one, progress=False)
  _, _, restored = run.reopen(out, METHODS, load_context=False)
  assert int(restored.step) == steps
  # The whole state (both players' parameters and optimiser moments), to float32 rounding: the
  # collectives add in another order over processes than within one.
  chex.assert_trees_all_close(restored, expected, atol=1e-5, rtol=1e-5)
  fresh = one.program().init()  # and it trained: the parameters moved
  assert not np.allclose(fresh.generator.params["Dense_0"]["kernel"],
                         restored.generator.params["Dense_0"]["kernel"], atol=1e-5)


DQN = ["train", "dqn", "--env", "CartPole-v1", "--steps", "2000", "--seeds", "4", "--devices", "4",
       "--learning-starts", "500", "--batch-size", "32", "--buffer-size", "1000", "--log-every",
       "500", "--checkpoint-every", "1000", "--eval-every", "0", "--no-progress"]


# The loops layout against one device (88 s on the 2-core EPYC of 2026-12-07) is slow:
# test_dqn's loops test checks that layout in one process.
@pytest.mark.parametrize("layout, reference_devices",
                         [("vmap", "4"), pytest.param("loops", "1", marks=pytest.mark.slow)])
def test_dqn_seeds_over_two_processes_equal_one_process(tmp_path, layout, reference_devices):
  """Each device runs its seeds' whole loop; nothing crosses processes but the gathered metrics,
  so the split over processes changes no bit: 2 processes x 2 devices equal one process on 4
  devices. With --seed-layout loops they equal the 4 seeds trained on one device (each seed its own
  loop, so no vmap width enters the bits)."""
  from jaxrl import cli as rl_cli
  from jaxrl.cli import METHODS as RL

  args = [*DQN, "--seed-layout", layout]
  out = str(tmp_path / "two")
  for rc, _, stderr in _wait(_processes([*args, "--out", out], str(tmp_path / "xla"), "jaxrl")):
    assert rc == 0, stderr[-2000:]
  reference = list(args)
  reference[reference.index("--devices") + 1] = reference_devices
  assert rl_cli.main([*reference, "--out", str(tmp_path / "one")]) == 0
  two, one = (run.reopen(str(tmp_path / d), RL, load_context=False)[2] for d in ("two", "one"))
  chex.assert_trees_all_equal(two.params, one.params)
  chex.assert_trees_all_equal(two.target_params, one.target_params)
  rows = [[json.loads(line) for line in open(os.path.join(tmp_path, d, "metrics.jsonl"))]
          for d in ("two", "one")]
  assert [r["episode_return"] for r in rows[0]] == [r["episode_return"] for r in rows[1]]
  assert len(rows[0]) == 4


@pytest.mark.parametrize("argv, message", [
    (["--process-id", "1"], "--process-id need --coordinator"),
    (["--num-processes", "2"], "--num-processes need --coordinator"),
    (["--coordinator", "localhost"], "must be HOST:PORT"),
    (["--coordinator", "localhost:1234", "--num-processes", "2"], "needs --num-processes N and --process-id"),
    (["--coordinator", "localhost:1234", "--num-processes", "2", "--process-id", "2"],
     "--process-id must be in [0, --num-processes)"),
])
def test_process_flags_are_checked_before_any_work(tmp_path, capsys, argv, message):
  from jaxgan import cli

  out = str(tmp_path / "x")
  assert cli.main([*WGAN, "--steps", "4", "--out", out, *argv]) == 2
  err = capsys.readouterr().err.strip()
  assert message in err and len(err.splitlines()) == 1, err
  assert not os.path.exists(out)
  assert hosts.processes() == 1


def test_devices_must_split_over_the_processes(monkeypatch):
  from jaxrun import devices

  monkeypatch.setattr(hosts, "_PROCESSES", 2)
  with pytest.raises(ValueError, match="--devices 3 does not split over the 2 processes"):
    devices.make_cpu_devices(3)


def test_cluster_is_read_from_the_environment(monkeypatch):
  for name in ("SLURM_STEP_ID", "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE", "TPU_WORKER_HOSTNAMES"):
    monkeypatch.delenv(name, raising=False)
  assert not hosts.from_cluster()
  monkeypatch.setenv("SLURM_NTASKS", "4")  # an allocation, not a step launched by srun
  assert not hosts.from_cluster()
  monkeypatch.setenv("SLURM_STEP_ID", "0")
  assert hosts.from_cluster()
  monkeypatch.setenv("SLURM_NTASKS", "1")
  assert not hosts.from_cluster()
  monkeypatch.setenv("TPU_WORKER_HOSTNAMES", "t1,t2")
  assert hosts.from_cluster()
