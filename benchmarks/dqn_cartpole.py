"""DQN on CartPole-v1 with CleanRL's hyperparameters (the `cleanrl` preset, 500k steps): environment
steps per second of the whole jitted training loop (one seed, and 8 seeds vmapped), and the final
greedy return of each seed; with --peer-python pointing at an environment with stable-baselines3
and sbx-rl, the same hyperparameters through them in the same run.

  python benchmarks/dqn_cartpole.py --seeds 8 --peer-python /path/to/peer-venv/bin/python

Timings exclude compilation (ahead-of-time compiled first, then run). The greedy return is the mean
over 100 evaluation episodes per seed at epsilon 0.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402
import numpy as np  # noqa: E402

import common  # noqa: E402
from jaxrl import dqn  # noqa: E402
from jaxrl.dqn import program as dqn_program  # noqa: E402


def timed_run(config: dqn.DQNConfig, keys) -> tuple[dict, float, dict]:
  """(final states, seconds without compilation, per-iteration metrics) of vmapped runs."""
  train = jax.jit(jax.vmap(dqn.make_train(config)))
  compiled = train.lower(keys).compile()
  t = time.perf_counter()
  states, metrics = jax.block_until_ready(compiled(keys))
  return states, time.perf_counter() - t, metrics


def greedy_returns(config, states, seed: int, episodes: int) -> np.ndarray:
  evaluate = dqn_program.make_evaluate(config, episodes, 0.0)
  keys = jax.random.split(jax.random.key(10_000 + seed), states.env_steps.shape[0])
  return np.asarray(evaluate(states.params, keys)).mean(-1)


def curve(config, metrics, chunk_steps: int) -> dict:
  """Training-episode return per chunk of ``chunk_steps`` environment steps, mean and std over seeds."""
  iters = chunk_steps // config.train_every
  n = metrics["episodes"].shape[1] // iters
  m = jax.tree.map(lambda x: x[:, :n * iters].reshape(x.shape[0], n, iters), metrics)
  returns = np.asarray(dqn.summarize(m)["episode_return"])
  return {"steps": [(i + 1) * chunk_steps for i in range(n)],
          "return_mean": returns.mean(0).round(2).tolist(), "return_std": returns.std(0).round(2).tolist()}


def plot_curves(curves: dict, path: str) -> None:
  """One panel per ``{title: curve}``: training-episode return, mean and one std over seeds."""
  from jaxrun import plots

  plt = plots.pyplot()
  fig, axes = plt.subplots(1, len(curves), figsize=(max(5.0, 3.2 * len(curves)), 3.0), squeeze=False)
  for ax, (title, c) in zip(axes[0], curves.items()):
    x, m, s = (np.array(c[k]) for k in ("steps", "return_mean", "return_std"))
    ax.plot(x, m)
    ax.fill_between(x, m - s, m + s, alpha=0.3)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("environment steps")
  axes[0][0].set_ylabel("training episode return")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--steps", type=int, default=500_000, help="environment steps per seed")
  p.add_argument("--seeds", type=int, default=8)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--episodes", type=int, default=100, help="greedy evaluation episodes per seed")
  p.add_argument("--peer-python", default=None,
                 help="python of an environment with stable-baselines3, sbx-rl and gymnasium")
  p.add_argument("--peer-steps", type=int, default=None,
                 help="environment steps for the peers (default --steps)")
  p.add_argument("--name", default="dqn_cartpole")
  args = p.parse_args()

  config = dqn.DQNConfig.cleanrl("CartPole-v1", total_steps=args.steps)
  keys = dqn_program.seed_keys(args.seed, args.seeds)[0]
  rows = []

  one, t_one, _ = timed_run(config, keys[:1])
  one_return = greedy_returns(config, one, args.seed, args.episodes)
  rows.append({"implementation": "jaxrl (1 seed)", "seeds": 1, "steps_per_second": args.steps / t_one,
               "seconds": t_one, "greedy_return": float(one_return.mean())})
  print(rows[-1], flush=True)

  many, t_many, metrics = timed_run(config, keys)
  returns = greedy_returns(config, many, args.seed, args.episodes)
  rows.append({"implementation": f"jaxrl ({args.seeds} seeds, vmap)", "seeds": args.seeds,
               "steps_per_second": args.seeds * args.steps / t_many, "seconds": t_many,
               "greedy_return": float(returns.mean())})
  print(rows[-1], flush=True)

  peers = {}
  if args.peer_python:
    for library in ("sb3", "sbx"):
      r = common.run_peer(args.peer_python, "sb3_dqn.py", library, str(args.peer_steps or args.steps),
                          str(args.seed))
      if r is not None:
        peers[library] = r
        rows.append({"implementation": {"sb3": "Stable-Baselines3", "sbx": "SBX"}[library],
                     "seeds": 1, "steps_per_second": r["steps_per_second"], "seconds": r["seconds"],
                     "greedy_return": r["eval_return_mean"]})
        print(rows[-1], flush=True)

  learning = curve(config, metrics, 10_000)
  os.makedirs(common.RESULTS, exist_ok=True)
  plot_curves({f"DQN CartPole-v1 (cleanrl preset), {args.seeds} seeds: mean ± std": learning},
              os.path.join(common.RESULTS, f"{args.name}.png"))
  speedup = {k: rows[0]["steps_per_second"] / v["steps_per_second"] for k, v in peers.items()}
  notes = (f"Greedy return: mean over {args.episodes} episodes per seed at epsilon 0 (the most a "
           f"CartPole-v1 episode returns is 500). Per-seed returns ({args.seeds} seeds): "
           f"{', '.join(f'{r:.1f}' for r in returns)}. Steps per second exclude compilation; "
           "the vmapped row counts the steps of all seeds. ")
  if speedup:
    notes += "One jaxrl seed is " + ", ".join(f"{v:.1f}x {k}" for k, v in speedup.items()) + \
        " (peers: 1 seed, their own loop; Huber loss where CleanRL's is squared)."
  md = common.write(args.name, {"config": dict(vars(config)), "per_seed_greedy_return": returns.tolist(),
                                "learning_curve": learning, "peers": peers, "speedup_vs_peers": speedup},
                    rows, notes)
  print(md)


if __name__ == "__main__":
  main()
