"""DQN on the five MinAtar games in gymnax (Young & Tian 2019's DQN settings, the `minatar` preset)
for the budget that fits the machine: learning curves (training-episode return against environment
steps, mean and spread over seeds), throughput and the final greedy return.

  python benchmarks/dqn_minatar.py --steps 250000 --seeds 2

Young & Tian train for 5M frames; a shorter budget keeps the preset's schedule (epsilon 1 -> 0.1
over the first 100k frames, learning from 5,000) and so shows the start of those curves.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

import common  # noqa: E402
from dqn_cartpole import curve, greedy_returns, plot_curves, timed_run  # noqa: E402
from jaxrl import dqn, envs  # noqa: E402
from jaxrl.dqn import program as dqn_program  # noqa: E402


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--steps", type=int, default=250_000, help="environment steps per seed and game")
  p.add_argument("--seeds", type=int, default=2)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--games", nargs="+", default=list(envs.MINATAR))
  p.add_argument("--episodes", type=int, default=20, help="greedy evaluation episodes per seed")
  p.add_argument("--name", default="dqn_minatar")
  args = p.parse_args()

  keys = dqn_program.seed_keys(args.seed, args.seeds)[0]
  rows, curves = [], {}
  for game in args.games:
    config = dqn.DQNConfig.minatar(game, total_steps=args.steps)
    states, seconds, metrics = timed_run(config, keys)
    returns = greedy_returns(config, states, args.seed, args.episodes)
    curves[game] = curve(config, metrics, max(args.steps // 25, 1_000))
    last = np.array(curves[game]["return_mean"][-max(len(curves[game]["return_mean"]) // 10, 1):])
    rows.append({"game": game, "steps": args.steps, "seeds": args.seeds,
                 "steps_per_second": args.seeds * args.steps / seconds, "seconds": seconds,
                 "final_training_return": float(last.mean()),
                 "greedy_return": float(returns.mean()), "greedy_return_std": float(returns.std())})
    print(rows[-1], flush=True)

  os.makedirs(common.RESULTS, exist_ok=True)
  plot_curves(curves, os.path.join(common.RESULTS, f"{args.name}.png"))
  notes = (f"The `minatar` preset (Young & Tian 2019) cut to {args.steps:,} environment steps per "
           f"seed (their runs: 5M). final_training_return: mean return of the training episodes "
           f"(epsilon 0.1) in the last tenth of the run; greedy_return: {args.episodes} episodes per "
           "seed at epsilon 0, mean (and std) over seeds. Steps per second count all seeds "
           "(vmapped) and exclude compilation. Curves: benchmarks/results/dqn_minatar.png.")
  print(common.write(args.name, {"curves": curves}, rows, notes))


if __name__ == "__main__":
  main()
