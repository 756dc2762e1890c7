"""Bitwise reproducibility on an accelerator, and what it costs: each workload is trained twice
from the same key in one process, and that process is run twice, with XLA's deterministic-ops flag
off and on (``--xla_gpu_deterministic_ops=true``, set before JAX starts). Reports whether the
final parameters are bitwise equal within a process (one compiled program run twice) and across
the two processes (each compiles, and on a GPU autotunes, on its own: what a user running one
command twice sees), and the throughput of the compiled program (the best run).

  python benchmarks/determinism.py            # on a GPU; on a CPU both settings are deterministic

Workloads: WGAN, the throughput benchmark's step (DCGAN 64x64x3, batch 64, n_critic 5,
--wgan-iterations generator iterations in one jitted chunk); DQN on CartPole-v1 (the `cleanrl`
preset, --dqn-steps environment steps, --dqn-seeds seeds vmapped in one jitted program); Reed's
text encoder at its paper widths on the generated shapes at 64 px (--text-steps steps in one
jitted chunk: its character embedding's gradient is a scatter-add, which a GPU may accumulate
with atomics in any order; two benchmark runs on an H200 trained it to different accuracies).
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402
import numpy as np  # noqa: E402

FLAG = "--xla_gpu_deterministic_ops=true"


def bitwise_equal(a, b) -> bool:
  return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def digest(tree) -> str:
  h = hashlib.sha256()
  for leaf in jax.tree.leaves(tree):
    h.update(np.ascontiguousarray(leaf).tobytes())
  return h.hexdigest()


def twice(run) -> dict:
  """``run() -> params`` (compiled already) twice: bitwise equal, the parameters' digest, and
  the faster run's seconds."""
  seconds, outs = [], []
  for _ in range(2):
    t = time.perf_counter()
    outs.append(jax.block_until_ready(run()))
    seconds.append(time.perf_counter() - t)
  return {"bitwise_equal": bitwise_equal(*outs), "digest": digest(outs[0]), "seconds": min(seconds)}


def wgan(iterations: int) -> dict:
  from jaxgan import WGANConfig, program, wgan

  config = WGANConfig((64, 64, 3), warmup_iterations=0, warmup_every=0)
  data = jax.device_put({"x": np.random.default_rng(0).integers(0, 256, (512, 64, 64, 3), np.uint8)})
  state = wgan.init(jax.random.key(0), config)
  chunk = program.make_chunk(wgan.train_step, iterations, 1)
  chunk(state, data, jax.random.key(1))  # compiles
  r = twice(lambda: chunk(state, data, jax.random.key(1))[0])
  return {**r, "generator_it_per_s": iterations / r["seconds"]}


def dqn(steps: int, seeds: int) -> dict:
  from jaxrl import dqn

  config = dqn.DQNConfig.cleanrl(total_steps=steps)
  keys = jax.random.split(jax.random.key(0), seeds)
  compiled = jax.jit(jax.vmap(dqn.make_train(config))).lower(keys).compile()
  r = twice(lambda: compiled(keys)[0].params)
  return {**r, "env_steps_per_s": steps * seeds / r["seconds"]}


def text_encoder(steps: int) -> dict:
  from jaxgan import program
  from jaxgan.algos import text_encoder as te
  from jaxgan.data import shapes

  config = te.TextEncoderConfig()
  data = te.device_data(shapes.load_shapes(64).train, config)
  state = te.init(jax.random.key(0), config)
  chunk = program.make_chunk(te.train_step, steps, 1)
  chunk(state, data, jax.random.key(1))  # compiles
  r = twice(lambda: chunk(state, data, jax.random.key(1))[0].params)
  return {**r, "steps_per_s": steps / r["seconds"]}


WORKLOADS = {"wgan": "generator_it_per_s", "dqn": "env_steps_per_s", "text_encoder": "steps_per_s"}


def child(args) -> None:
  out = {"wgan": wgan(args.wgan_iterations), "dqn": dqn(args.dqn_steps, args.dqn_seeds),
         "text_encoder": text_encoder(args.text_steps)}
  print(json.dumps(out))


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--wgan-iterations", type=int, default=50)
  p.add_argument("--dqn-steps", type=int, default=100_000)
  p.add_argument("--dqn-seeds", type=int, default=8)
  p.add_argument("--text-steps", type=int, default=100)
  p.add_argument("--name", default=None, help="result file name (default determinism_PLATFORM)")
  p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
  args = p.parse_args()
  if args.child:
    return child(args)

  rows, runs = [], {}
  for deterministic in (False, True):
    env = dict(os.environ)
    if deterministic:
      env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {FLAG}".strip()
    cmd = [sys.executable, __file__, "--child", "--wgan-iterations", str(args.wgan_iterations),
           "--dqn-steps", str(args.dqn_steps), "--dqn-seeds", str(args.dqn_seeds),
           "--text-steps", str(args.text_steps)]
    outs = []
    for _ in range(2):  # two processes of the same command
      proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
      if proc.returncode != 0:
        sys.exit(f"the run with deterministic={deterministic} failed:\n{proc.stderr[-3000:]}")
      outs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
      print(deterministic, outs[-1], flush=True)
    runs[deterministic] = outs
    for key, rate in WORKLOADS.items():
      rows.append({"workload": key, "xla_gpu_deterministic_ops": deterministic,
                   "equal_in_process": all(o[key]["bitwise_equal"] for o in outs),
                   "equal_across_processes": outs[0][key]["digest"] == outs[1][key]["digest"],
                   "rate": max(o[key][rate] for o in outs), "unit": rate.removesuffix("_per_s") + "/s"})
  for default, flagged in zip(rows[:len(WORKLOADS)], rows[len(WORKLOADS):]):
    flagged["vs_default"] = flagged["rate"] / default["rate"]
  notes = (f"Each workload trained twice from the same key in one process, the process run twice "
           f"per setting; equal: every final parameter equal bit for bit, between the two runs of "
           f"each process and between the two processes. WGAN: {args.wgan_iterations} generator "
           f"iterations of the throughput benchmark's DCGAN step in one jitted chunk. DQN: "
           f"CartPole-v1, the cleanrl preset, {args.dqn_steps:,} steps x {args.dqn_seeds} seeds "
           f"vmapped. Text encoder: Reed's widths, shapes at 64 px, {args.text_steps} steps in one "
           "jitted chunk. Rates: the fastest compiled run. The flag is set through XLA_FLAGS before "
           "JAX starts.")
  import common  # only now: the parent touches no device while the children hold it

  platform = jax.devices()[0].platform
  print(common.write(args.name or f"determinism_{platform}",
                     {"flag": FLAG, "runs": {str(k): v for k, v in runs.items()}}, rows, notes))


if __name__ == "__main__":
  main()
