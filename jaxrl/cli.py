"""``jaxrl``: deep Q-learning and bandits on gymnax environments from the command line.

  jaxrl train dqn --env CartPole-v1 --preset cleanrl --steps 500000 --seeds 8 --out runs/dqn-cartpole
  jaxrl train dqn --env Breakout-MinAtar --preset minatar --steps 1000000 --out runs/dqn-breakout
  jaxrl train dqn --env Pong-v5 --preset nature --steps 10000000 --out runs/dqn-pong     # envpool Atari
  jaxrl train dqn --out runs/dqn-cartpole --resume --steps 1000000
  jaxrl eval runs/dqn-cartpole --episodes 100
  jaxrl bandit --env BernoulliBandit-misc --epsilons 0 0.01 0.1 --steps 1000 --runs 2000 --out runs/bandit
"""

import dataclasses
import json
import os
import sys
from typing import Annotated

import tyro

from jaxrl.methods import METHODS
from jaxrun import cli as run_cli


@dataclasses.dataclass(frozen=True)
class EvalArgs:
  """Evaluate a run's agents (the config's epsilon unless --epsilon); one JSON object on stdout."""

  dir: Annotated[str, tyro.conf.Positional]  # run directory
  episodes: int | None = None       # episodes per seed (default: the config's)
  epsilon: float | None = None      # evaluation epsilon (default: the config's; 0 = greedy)
  step: int | None = None           # checkpoint step (default: the newest that restores)
  seed: int = 0                     # evaluation seed


@dataclasses.dataclass(frozen=True)
class BanditArgs:
  """Regret curves of sample-average epsilon-greedy on a K-armed bandit (bandit.json, regret.png)."""

  env: str = "BernoulliBandit-misc"   # BernoulliBandit-misc or GaussianBandit-misc
  epsilons: tuple[float, ...] = (0.0, 0.01, 0.1)  # one curve per epsilon
  steps: int = 1000                   # pulls per run
  runs: int = 2000                    # independent bandits averaged over
  seed: int = 0                       # the runs' seed
  out: str = "runs/bandit"            # directory for bandit.json and regret.png


def evaluate(argv) -> int:
  """evaluate a run's agents; one JSON object"""
  from jaxrl.dqn import program as dqn_program
  from jaxrun import run

  args = tyro.cli(EvalArgs, args=argv, prog="jaxrl eval")
  if args.epsilon is not None and not 0.0 <= args.epsilon <= 1.0:
    raise ValueError(f"--epsilon must lie in [0, 1], got {args.epsilon}.")
  if args.episodes is not None and args.episodes < 1:
    raise ValueError(f"--episodes must be >= 1, got {args.episodes}.")
  r, program, states = run.reopen(args.dir, METHODS, args.step)
  try:
    eval_keys = program.run_keys(args.seed)[1]
    # (--seed folds into the evaluation keys where training's evaluations fold in the step.)
    _, result = program.evaluate(states, args.seed, args.episodes, args.epsilon, eval_keys)
  finally:
    program.close()
  eps = r.config.eval_epsilon if args.epsilon is None else args.epsilon
  result = {k: v for k, v in result.items() if k not in ("env", "env_steps")}
  print(json.dumps({"env": r.config.env, "env_steps": dqn_program.first_seed(states.env_steps),
                    "seeds": r.settings.seeds, "epsilon": eps, **result}))
  return 0


def bandit(argv) -> int:
  """regret curves of epsilon-greedy sample averages on a bandit"""
  import jax
  import numpy as np

  from jaxrl import bandits
  from jaxrun import files, plots

  args = tyro.cli(BanditArgs, args=argv, prog="jaxrl bandit")
  curves = bandits.regret_curves(args.env, jax.random.key(args.seed), list(args.epsilons),
                                 args.steps, args.runs)
  os.makedirs(args.out, exist_ok=True)
  result = {"env": args.env, "steps": args.steps, "runs": args.runs, "epsilons": list(args.epsilons),
            "final_cumulative_regret": np.asarray(curves["cumulative_regret"][:, -1]).tolist(),
            "optimal_last_10pct": np.asarray(
                curves["optimal"][:, -max(args.steps // 10, 1):].mean(1)).tolist()}
  files.atomic_write(os.path.join(args.out, "bandit.json"), json.dumps(
      {**result, "curves": {k: np.asarray(v).tolist() for k, v in curves.items()}}))
  plt = plots.pyplot()
  fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
  t = np.arange(1, args.steps + 1)
  for i, eps in enumerate(args.epsilons):
    for ax, key in zip(axes, ("cumulative_regret", "reward", "optimal")):
      ax.plot(t, curves[key][i], label=f"epsilon = {eps:g}", lw=1)
  for ax, title in zip(axes, ("cumulative regret", "average reward", "% optimal action")):
    ax.set_title(title)
    ax.set_xlabel("steps")
    ax.legend(fontsize=8)
  fig.suptitle(f"{args.env}: sample-average epsilon-greedy, {args.runs} runs")
  fig.tight_layout()
  with files.atomic_output(os.path.join(args.out, "regret.png")) as tmp:
    fig.savefig(tmp, dpi=100)
  plt.close(fig)
  print(json.dumps({"out": args.out, **result}))
  return 0


def main(argv=None) -> int:
  return run_cli.main("jaxrl", __doc__, METHODS, {"eval": evaluate, "bandit": bandit}, argv)


if __name__ == "__main__":
  sys.exit(main())
