"""DQN on the five MinAtar games in gymnax (Young & Tian 2019's DQN settings, the `minatar` preset)
for the budget that fits the machine: learning curves (training-episode return against environment
steps, interquartile mean over seeds with its 95% bootstrap band), throughput and the final greedy return.

  python benchmarks/dqn_minatar.py --steps 250000 --seeds 2

Young & Tian train for 5M frames; a shorter budget keeps the preset's schedule (epsilon 1 -> 0.1
over the first 100k frames, learning from 5,000) and so shows the start of those curves.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402
import numpy as np  # noqa: E402

import common  # noqa: E402
from dqn_cartpole import curve, greedy_returns, plot_curves, timed_run  # noqa: E402
from jaxrl import dqn, envs  # noqa: E402
from jaxrl.dqn import program as dqn_program  # noqa: E402
from jaxrun import aggregate  # noqa: E402


def random_policy_rate(game: str, seeds: int, steps: int = 20_000) -> float:
  """Environment steps per second, per seed, of uniformly random actions in ``seeds`` vmapped
  copies of the game (gymnax, auto-reset included), compilation excluded: what stepping the
  environment alone costs, the ceiling of any learner's rate."""
  env = envs.make(game)

  def run(key):
    k_reset, k_run = jax.random.split(key)
    obs, state = env.reset(k_reset)

    def step(state, k):
      k_act, k_env = jax.random.split(k)
      action = jax.random.randint(k_act, (), 0, env.num_actions)
      _, state, reward, *_ = env.step(k_env, state, action)
      return state, reward
    return jax.lax.scan(step, state, jax.random.split(k_run, steps))[1].sum()

  keys = jax.random.split(jax.random.key(0), seeds)
  compiled = jax.jit(jax.vmap(run)).lower(keys).compile()
  t = time.perf_counter()
  jax.block_until_ready(compiled(keys))
  return steps / (time.perf_counter() - t)


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
    seed_returns = np.array(curves[game]["return_per_seed"])  # [seeds, points]
    last = seed_returns[:, -max(seed_returns.shape[1] // 10, 1):]
    random_rate = random_policy_rate(game, args.seeds)
    per_seed = args.steps / seconds
    rows.append({"game": game, "steps": args.steps, "seeds": args.seeds,
                 "steps_per_second": args.seeds * args.steps / seconds, "seconds": seconds,
                 "steps_per_second_per_seed": per_seed,
                 "random_policy_steps_per_second_per_seed": random_rate,
                 "environment_share": per_seed / random_rate,
                 "final_training_return": float(last.mean()),
                 "greedy_return": float(returns.mean()),
                 "greedy_return (IQM, 95% CI)": common.iqm_cell(aggregate.summary(returns)),
                 "greedy_return_per_seed": returns.round(3).tolist()})
    print(rows[-1], flush=True)

  os.makedirs(common.RESULTS, exist_ok=True)
  plot_curves(curves, os.path.join(common.RESULTS, f"{args.name}.png"))
  notes = (f"The `minatar` preset (Young & Tian 2019) cut to {args.steps:,} environment steps per "
           f"seed (their runs: 5M). final_training_return: mean return of the training episodes "
           f"(epsilon 0.1) in the last tenth of the run; greedy_return: {args.episodes} episodes per "
           "seed at epsilon 0, the mean over seeds and their interquartile mean with its 95% "
           "stratified bootstrap interval (rliable). Steps per second count all seeds "
           "(vmapped) and exclude compilation; per seed, they stand beside the rate of the "
           "same number of vmapped copies of the game stepped with random actions alone "
           "(gymnax, auto-reset included), and environment_share is their ratio: the share "
           "of the learner's time that stepping the game would take, the rest being the "
           "Q-network, the replay and the updates. Curves (IQM over seeds, 95% band): "
           "benchmarks/results/dqn_minatar.png.")
  print(common.write(args.name, {"curves": curves}, rows, notes))


if __name__ == "__main__":
  main()
