"""DQN on Pong for a wall-clock budget, its learning curve beside CleanRL's published
dqn_atari_jax.py curve at the same environment steps, and the whole loop's frames per second.

  python benchmarks/dqn_pong_curve.py --minutes 8 --num-envs 4 --name dqn_pong_gpu

Trains `jaxrl train dqn --env Pong-v5 --preset cleanrl-atari --steps 10000000` (CleanRL's
hyperparameters and its 10M-step schedule: epsilon 1 -> 0.01 over the first 1M steps, learning
from 80k) and stops it after --minutes; metrics.jsonl holds every chunk written before the stop.
With --num-envs N the loop steps N environments between updates and updates once every 4
environment steps, as CleanRL's one environment does. The environments are stepped inside jit (the
XLA path) first; envpool's XLA step has been reported to abort on GPUs with recent JAX
(envpool#391), so when that run fails before its first chunk the script says so and runs the host
path instead, and the results name the path that ran.

The curve: the mean return of the training games (whole games at the current epsilon, as
CleanRL's `charts/episodic_return`) finished in each chunk. CleanRL's curve is read off the
figure of its documentation (docs/rl-algorithms/dqn/jax/PongNoFrameskip-v4.png, the mean of 3
seeds, PongNoFrameskip-v4 through gym's Atari wrappers), by pixel, to about +-0.5; it is the
reference `CLEANRL_PONG` below. Extra flags after `--` go to `jaxrl train dqn` (a short CPU
check: `-- --learning-starts 400 --buffer-size 4000`).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

import common  # noqa: E402

# (environment steps, episodic return) of CleanRL's dqn_atari_jax.py on PongNoFrameskip-v4, read
# off its documentation's figure (3 seeds' mean; 0 steps: the random policy's -20.5).
CLEANRL_PONG = ((0, -20.5), (200_000, -19.9), (300_000, -19.5), (400_000, -18.9),
                (500_000, -18.2), (600_000, -17.2), (700_000, -16.0), (800_000, -14.0),
                (900_000, -10.8), (1_000_000, -6.4), (1_100_000, -1.9), (1_200_000, 1.8),
                (1_300_000, 4.7), (1_400_000, 7.6), (1_500_000, 9.8), (1_600_000, 11.6),
                (1_800_000, 13.8), (2_000_000, 15.6), (2_500_000, 18.1), (3_000_000, 19.2),
                (4_000_000, 19.8))


def cleanrl_return(step: float) -> float:
  steps, returns = zip(*CLEANRL_PONG)
  return float(np.interp(step, steps, returns))


def train(out: str, path: str, args, extra: list[str]) -> tuple[int, str]:
  """Runs the command until it ends or --minutes pass (then stops it); (return code, stderr)."""
  cmd = [sys.executable, "-m", "jaxrl.cli", "train", "dqn", "--env", "Pong-v5", "--preset",
         "cleanrl-atari", "--steps", str(args.steps), "--num-envs", str(args.num_envs),
         "--env-stepping", path, "--log-every", str(args.log_every), "--eval-every", "0",
         "--checkpoint-every", str(args.steps), "--seed", str(args.seed), "--no-progress",
         "--out", out, *extra]
  print(" ".join(cmd[1:]), flush=True)
  with open(out + ".stderr", "w") as err:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    try:
      rc = proc.wait(timeout=60 * args.minutes)
    except subprocess.TimeoutExpired:  # the budget: the chunks written so far are the curve
      proc.send_signal(signal.SIGKILL)
      proc.wait()
      rc = 0
  with open(out + ".stderr") as err:
    return rc, err.read()


def rows_of(out: str) -> list[dict]:
  path = os.path.join(out, "metrics.jsonl")
  return [json.loads(line) for line in open(path)] if os.path.exists(path) else []


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--minutes", type=float, default=8.0, help="wall-clock budget of the training run")
  p.add_argument("--num-envs", type=int, default=4, help="environments stepped between updates")
  p.add_argument("--steps", type=int, default=10_000_000,
                 help="the run's length, which sets the schedule (CleanRL's: 10M)")
  p.add_argument("--log-every", type=int, default=20_000, help="environment steps per chunk (a curve point)")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--name", default="dqn_pong")
  args, extra = p.parse_known_args()
  extra = [a for a in extra if a != "--"]

  with tempfile.TemporaryDirectory() as tmp:
    path, out = "xla", os.path.join(tmp, "xla")
    rc, err = train(out, path, args, extra)
    fallback = None
    if rc != 0 and not rows_of(out):
      fallback = (f"the XLA path failed before its first chunk (exit {rc}: "
                  f"{err.strip().splitlines()[-1] if err.strip() else 'no message'}); "
                  "the host path ran instead")
      print(fallback, flush=True)
      path, out = "host", os.path.join(tmp, "host")
      rc, err = train(out, path, args, extra)
    rows = rows_of(out)
    if rc != 0 or not rows:
      raise SystemExit(f"the {path} path's run failed (exit {rc}): {err[-2000:]}")

  # Whole-loop speed over the warm chunks (the first holds the compilation).
  first, last = rows[0], rows[-1]
  warm_rate = ((last["step"] - first["step"]) / (last["seconds"] - first["seconds"])
               if len(rows) > 1 else last["step"] / last["seconds"])
  curve = [(r["step"], r["episode_return_mean"]) for r in rows if r["episode_return_mean"] is not None]
  table = [{"step": s, "return": round(v, 2), "cleanrl_dqn_atari_jax": round(cleanrl_return(s), 1)}
           for s, v in curve]
  summary = {"path": path, "fallback": fallback, "num_envs": args.num_envs, "minutes": args.minutes,
             "env_steps": last["step"], "training_seconds": last["seconds"],
             "env_steps_per_s": warm_rate, "frames_per_s": 4 * warm_rate,
             "final_return": curve[-1][1] if curve else None,
             "cleanrl_at_same_steps": cleanrl_return(last["step"])}
  print(summary, flush=True)
  _plot(curve, last["step"], os.path.join(common.RESULTS, f"{args.name}.png"))
  notes = (f"Pong-v5 (envpool), the cleanrl-atari preset with CleanRL's 10M-step schedule, "
           f"{args.num_envs} environment(s), {path} path{' (' + fallback + ')' if fallback else ''}; "
           f"stopped after {args.minutes} minutes at {last['step']:,} environment steps; the whole loop "
           f"ran {warm_rate:,.0f} environment steps/s ({4 * warm_rate:,.0f} frames/s) over the warm "
           "chunks. return: the mean of the training games finished in each chunk; "
           "cleanrl_dqn_atari_jax: CleanRL's published curve (3 seeds' mean, read off its figure) "
           "at the same step.")
  print(common.write(args.name, {"summary": summary, "curve": curve}, table, notes))


def _plot(curve, steps: int, path: str) -> None:
  from jaxrun import plots

  ref = [(s, r) for s, r in CLEANRL_PONG if s <= max(steps, 1)]
  series = [(["CleanRL dqn_atari_jax.py (published, 3 seeds)"], *_columns(ref))]
  if curve:
    series.append((["jaxrl, training games"], *_columns(curve)))
  plots.banded_curves([("DQN on Pong", "environment steps", "episodic return", series)], path)


def _columns(points):
  """[(x, y)] -> (x [points], y [points, 1 run]), as plots.banded_curves takes a series."""
  x, y = zip(*points)
  return np.array(x), np.array(y, float)[:, None]


if __name__ == "__main__":
  main()
