"""This tree's training speed against another checkout of the project (a commit before a change),
side by side on one machine, the two sides alternating in fresh processes:

  - DQN CartPole-v1, the cleanrl preset, one seed: env steps/s of the pure jitted scan
    (``jax.jit(dqn.make_train(config))``, compilation excluded);
  - the same training through the command line (``jaxrl train dqn ... --seeds 1``): the loop's
    own seconds and the whole command's wall time (imports, compilation, checkpoints, evaluation);
  - WGAN DCGAN 64x64x3, batch 64, n_critic 5: generator iterations/s of a jitted chunk of
    ``wgan.train_step`` (the loop's chunk), compilation excluded.

  git worktree add /tmp/before <commit>
  python benchmarks/speed_vs_commit.py --other /tmp/before --rounds 3

Writes benchmarks/results/NAME.{json,md}. The measuring code is this script's own, the same for
both sides; only the library it imports differs (PYTHONPATH).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))

import common  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PURE_SCAN = """
import json, time, jax
from jaxrl import dqn
config = dqn.DQNConfig.cleanrl("CartPole-v1", total_steps={steps})
train = jax.jit(dqn.make_train(config))
key = jax.random.key(0)
compiled = train.lower(key).compile()
t = time.perf_counter()
jax.block_until_ready(compiled(key))
print(json.dumps({{"steps_per_s": {steps} / (time.perf_counter() - t)}}))
"""

WGAN_CHUNK = """
import json, time, jax, numpy as np
from jaxgan import WGANConfig, wgan
config = WGANConfig((64, 64, 3), batch_size=64, n_critic=5, warmup_iterations=0, warmup_every=0)
state = wgan.init(jax.random.key(0), config)
data = jax.device_put({{"x": np.random.default_rng(0).integers(0, 256, (512, 64, 64, 3), np.uint8)}})

@jax.jit
def chunk(state, data, key):
  body = lambda s, _: wgan.train_step(s, data, jax.random.fold_in(key, s.step))
  return jax.lax.scan(body, state, None, length={iterations})

state, _ = jax.block_until_ready(chunk(state, data, jax.random.key(1)))  # compiles
best = float("inf")
for i in range({repeats}):
  t = time.perf_counter()
  state, _ = jax.block_until_ready(chunk(state, data, jax.random.key(2 + i)))
  best = min(best, time.perf_counter() - t)
print(json.dumps({{"generator_it_per_s": {iterations} / best}}))
"""


def _python(root: str, code: str) -> dict:
  env = {**os.environ, "PYTHONPATH": root, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")}
  out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       cwd=root, check=True)
  return json.loads(out.stdout.strip().splitlines()[-1])


def _command(root: str, steps: int) -> dict:
  """The training command, timed from the outside; the loop's seconds from its own output."""
  with tempfile.TemporaryDirectory() as work:
    env = {**os.environ, "PYTHONPATH": root, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu"),
           "JAXGAN_CACHE": os.path.join(work, "cache")}  # compiled from scratch, both sides
    cmd = [sys.executable, "-m", "jaxrl.cli", "train", "dqn", "--env", "CartPole-v1", "--preset",
           "cleanrl", "--steps", str(steps), "--seeds", "1", "--eval-every", "0", "--no-progress",
           "--out", os.path.join(work, "run")]
    t = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=root, check=True)
    wall = time.perf_counter() - t
  result = json.loads(out.stdout.strip().splitlines()[-1])
  return {"command_s": wall, "loop_s": result["seconds"]}


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--other", required=True, help="root of the other checkout (e.g. a git worktree)")
  p.add_argument("--other-name", default="before", help="its name in the table")
  p.add_argument("--rounds", type=int, default=3, help="alternations of the two sides")
  p.add_argument("--steps", type=int, default=200_000, help="CartPole environment steps")
  p.add_argument("--wgan-iterations", type=int, default=5, help="generator iterations per chunk")
  p.add_argument("--wgan-repeats", type=int, default=2, help="timed chunks (the best is kept)")
  p.add_argument("--name", default="speed_vs_commit")
  args = p.parse_args()

  sides = {"this tree": ROOT, args.other_name: os.path.abspath(args.other)}
  runs = {name: [] for name in sides}
  for name, _ in common.alternated(sides, args.rounds):
    root = sides[name]
    m = {**_python(root, PURE_SCAN.format(steps=args.steps)), **_command(root, args.steps),
         **_python(root, WGAN_CHUNK.format(iterations=args.wgan_iterations,
                                           repeats=args.wgan_repeats))}
    m["command_steps_per_s"] = args.steps / m["loop_s"]
    runs[name].append(m)
    print(name, m, flush=True)
  table = []
  for name, ms in runs.items():
    best = lambda k, f=max: f(m[k] for m in ms)
    table.append({"code": name, "CartPole scan steps/s (best)": best("steps_per_s"),
                  "CartPole command: loop steps/s (best)": best("command_steps_per_s"),
                  "CartPole command: whole process s (best)": best("command_s", min),
                  "WGAN generator it/s (best)": best("generator_it_per_s")})
  a, b = table
  ratios = {k: a[k] / b[k] for k in a if k != "code"}
  notes = (f"{args.rounds} rounds, the sides alternating (each measurement in a fresh process); "
           f"best of the rounds. CartPole: cleanrl preset, 1 seed, {args.steps:,} steps. WGAN: "
           f"DCGAN 64x64x3, batch 64, n_critic 5, chunks of {args.wgan_iterations} generator "
           "iterations. Ratios (this tree / " + args.other_name + "): " +
           ", ".join(f"{k}: {v:.3f}" for k, v in ratios.items()) + ".")
  print(common.write(args.name, {"runs": runs, "ratios": ratios, "other": sides[args.other_name]},
                     table, notes))


if __name__ == "__main__":
  main()
