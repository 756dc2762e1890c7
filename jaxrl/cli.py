"""``jaxrl``: deep Q-learning and bandits on gymnax environments from the command line.

  jaxrl train dqn --env CartPole-v1 --preset cleanrl --steps 500000 --seeds 8 --out runs/dqn-cartpole
  jaxrl train dqn --env Breakout-MinAtar --preset minatar --steps 1000000 --out runs/dqn-breakout
  jaxrl train dqn --env Pong-v5 --preset nature --steps 10000000 --out runs/dqn-pong     # envpool Atari
  jaxrl train dqn --out runs/dqn-cartpole --resume --steps 1000000
  jaxrl eval runs/dqn-cartpole --episodes 100
  jaxrl bandit --env BernoulliBandit-misc --epsilons 0 0.01 0.1 --steps 1000 --runs 2000 --out runs/bandit
"""

import argparse
import json
import os
import sys

from jaxrl import dqn, envs

# flag -> DQNConfig field
_OVERRIDES = {
    "num_envs": "num_envs", "buffer_size": "buffer_size", "batch_size": "batch_size",
    "lr": "learning_rate", "gamma": "gamma", "optimizer": "optimizer", "loss": "loss",
    "train_every": "train_every", "gradient_steps": "gradient_steps",
    "learning_starts": "learning_starts", "target_update_every": "target_update_every",
    "target_update_unit": "target_update_unit", "tau": "tau", "epsilon_start": "epsilon_start",
    "epsilon_end": "epsilon_end", "exploration_fraction": "exploration_fraction",
    "exploration_steps": "exploration_steps", "eval_epsilon": "eval_epsilon",
    "eval_episodes": "eval_episodes", "network": "network", "hidden": "hidden",
    "max_grad_norm": "max_grad_norm", "sticky_actions": "sticky_actions",
}


def _overrides(args) -> dict:
  out = {field: getattr(args, flag) for flag, field in _OVERRIDES.items()
         if getattr(args, flag) is not None}
  if "hidden" in out:
    out["hidden"] = tuple(out["hidden"])
  if args.double:
    out["double"] = True
  if args.fire_reset is not None:
    out["fire_reset"] = args.fire_reset
  return out


def _add_train(sub) -> None:
  p = sub.add_parser("train", help="train DQN agents (or continue a run with --resume)",
                     description="Train DQN (Mnih et al. 2013/2015) on a gymnax environment (one agent "
                     "per seed, vmapped) or an envpool Atari game (one seed per run, the environments "
                     "stepped inside jit). Writes config.json, metrics.jsonl (one line per chunk), "
                     "orbax checkpoints, curves.png and eval.json to --out.")
  p.add_argument("algo", choices=("dqn",))
  p.add_argument("--env", default="CartPole-v1",
                 help=f"gymnax environment ({', '.join(envs.DQN_ENVS)}) or envpool Atari game "
                      "(Pong-v5, Breakout-v5, BeamRider-v5, ...; needs the atari extra)")
  p.add_argument("--preset", default=None, choices=dqn.PRESETS,
                 help="hyperparameters: cleanrl (CleanRL dqn_jax; default for classic control), "
                      "minatar (Young & Tian 2019; default for MinAtar), nature (Mnih et al. 2015; "
                      "default for Atari), cleanrl-atari (CleanRL dqn_atari_jax)")
  p.add_argument("--steps", type=int, default=None,
                 help="environment steps per seed (default: the preset's: 500k, 5M, 10M)")
  p.add_argument("--seeds", type=int, default=1, help="independent agents, trained together (vmap)")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--out", default=None, help="run directory (default runs/dqn-ENV)")
  p.add_argument("--resume", action="store_true",
                 help="continue the run in --out from its last checkpoint (its config.json rules; "
                      "--steps may extend it)")
  g = p.add_argument_group("DQN (defaults: the preset's; see README)")
  g.add_argument("--num-envs", type=int, help="parallel environments per agent")
  g.add_argument("--buffer-size", type=int, help="replay capacity (transitions)")
  g.add_argument("--batch-size", type=int)
  g.add_argument("--lr", type=float, help="learning rate")
  g.add_argument("--gamma", type=float, help="discount")
  g.add_argument("--optimizer", choices=dqn.OPTIMIZERS)
  g.add_argument("--loss", choices=dqn.LOSSES, help="squared TD error or Huber (error clipping)")
  g.add_argument("--double", action="store_true", help="Double DQN targets")
  g.add_argument("--train-every", type=int, help="environment steps between updates")
  g.add_argument("--gradient-steps", type=int, help="updates each time")
  g.add_argument("--learning-starts", type=int, help="environment steps before the first update")
  g.add_argument("--target-update-every", type=int, help="target network period")
  g.add_argument("--target-update-unit", choices=("steps", "updates"),
                 help="the period counts environment steps or gradient updates")
  g.add_argument("--tau", type=float, help="1: hard target copy; < 1: Polyak averaging")
  g.add_argument("--epsilon-start", type=float)
  g.add_argument("--epsilon-end", type=float)
  g.add_argument("--exploration-fraction", type=float,
                 help="share of the run over which epsilon decays")
  g.add_argument("--exploration-steps", type=int, help="environment steps over which epsilon decays "
                 "(overrides --exploration-fraction)")
  g.add_argument("--eval-epsilon", type=float, help="epsilon of the evaluation policy (0: greedy)")
  g.add_argument("--eval-episodes", type=int)
  g.add_argument("--network", choices=("auto", "mlp", "minatar", "nature"))
  g.add_argument("--hidden", type=int, nargs="+", help="MLP hidden widths")
  g.add_argument("--max-grad-norm", type=float)
  g.add_argument("--fire-reset", action=argparse.BooleanOptionalAction, default=None,
                 help="Atari: press FIRE after resets (cleanrl-atari: on)")
  g.add_argument("--sticky-actions", type=float,
                 help="Atari: repeat-action probability (0 in the presets, 0.25 in ALE v5)")
  g = p.add_argument_group("loop")
  g.add_argument("--chunk-steps", type=int, default=10_000,
                 help="environment steps per jitted chunk (log and progress interval)")
  g.add_argument("--eval-every", type=int, default=50_000,
                 help="environment steps between evaluations (0: only at the end)")
  g.add_argument("--checkpoint-every", type=int, default=None,
                 help="environment steps (default 50k; Atari 1M: its replay makes 7 GB checkpoints "
                      "and the pool restarts at each)")
  g.add_argument("--env-stepping", choices=("auto", "xla", "host"), default="auto",
                 help="Atari: step envpool inside jit (xla) or from Python (host); auto: xla, host "
                      "on TPU")
  g.add_argument("--no-progress", action="store_true")


def _train(args) -> int:
  from jaxrl import train as train_lib

  overrides = _overrides(args)
  out = args.out or f"runs/dqn-{args.env}"
  if args.resume:
    if overrides:
      raise ValueError("--resume continues a run with its saved config; drop the DQN flags "
                       f"({', '.join(overrides)}) or start a new run in another --out.")
    _, metrics = train_lib.train(None, out=out, resume=True, progress=not args.no_progress,
                                 total_steps=args.steps)
  else:
    from jaxrl.envs import atari

    is_atari = atari.is_game(args.env)
    preset = args.preset or ("minatar" if args.env in envs.MINATAR else
                             "nature" if is_atari else "cleanrl")
    if args.env_stepping != "auto" and not is_atari:
      raise ValueError("--env-stepping applies to Atari (envpool) environments.")
    checkpoint_every = args.checkpoint_every or (1_000_000 if is_atari else 50_000)
    if args.steps is not None:
      overrides["total_steps"] = args.steps
    config = dqn.DQNConfig.preset(preset, args.env, **overrides)
    run = train_lib.RunConfig(preset=preset, seeds=args.seeds, seed=args.seed,
                              chunk_steps=args.chunk_steps, eval_every=args.eval_every,
                              checkpoint_every=checkpoint_every,
                              env_stepping=args.env_stepping)
    _, metrics = train_lib.train(config, run, out=out, progress=not args.no_progress)
  print(json.dumps({"out": out, **metrics}))
  return 0


def _eval(args) -> int:
  import jax
  import numpy as np

  from jaxrl import train as train_lib

  if args.epsilon is not None and not 0.0 <= args.epsilon <= 1.0:
    raise ValueError(f"--epsilon must lie in [0, 1], got {args.epsilon}.")
  if args.episodes is not None and args.episodes < 1:
    raise ValueError(f"--episodes must be >= 1, got {args.episodes}.")
  run, config, states = train_lib.restore(args.dir, args.step)
  xla = not config.atari or train_lib.env_stepping(run) == "xla"
  evaluate = train_lib.make_evaluate(config, args.episodes, args.epsilon, xla)
  keys = jax.vmap(jax.random.fold_in, (0, None))(train_lib.seed_keys(args.seed, run.seeds)[1],
                                                 args.seed)
  returns = np.asarray(evaluate(states.params, keys))
  eps = config.eval_epsilon if args.epsilon is None else args.epsilon
  print(json.dumps({"env": config.env, "env_steps": train_lib.first_seed(states.env_steps), "seeds": run.seeds,
                    "epsilon": eps, **train_lib.evaluation_summary(returns, config.env)}))
  return 0


def _bandit(args) -> int:
  import jax
  import numpy as np

  from jaxgan import plots
  from jaxrl import bandits

  curves = bandits.regret_curves(args.env, jax.random.key(args.seed), args.epsilons, args.steps,
                                 args.runs)
  os.makedirs(args.out, exist_ok=True)
  result = {"env": args.env, "steps": args.steps, "runs": args.runs, "epsilons": args.epsilons,
            "final_cumulative_regret": np.asarray(curves["cumulative_regret"][:, -1]).tolist(),
            "optimal_last_10pct": np.asarray(
                curves["optimal"][:, -max(args.steps // 10, 1):].mean(1)).tolist()}
  with open(os.path.join(args.out, "bandit.json"), "w") as f:
    json.dump({**result, "curves": {k: np.asarray(v).tolist() for k, v in curves.items()}}, f)
  plt = plots._pyplot()
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
  fig.savefig(os.path.join(args.out, "regret.png"), dpi=100)
  plt.close(fig)
  print(json.dumps({"out": args.out, **result}))
  return 0


def parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="jaxrl", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = p.add_subparsers(dest="command", required=True)
  _add_train(sub)
  e = sub.add_parser("eval", help="evaluation of a run's agents (the config's epsilon unless "
                     "--epsilon); one JSON object on stdout")
  e.add_argument("dir", help="run directory")
  e.add_argument("--episodes", type=int, default=None, help="episodes per seed (default: the config's)")
  e.add_argument("--epsilon", type=float, default=None,
                 help="evaluation epsilon (default: the config's, 0 = greedy)")
  e.add_argument("--step", type=int, default=None, help="checkpoint step (default: the latest)")
  e.add_argument("--seed", type=int, default=0, help="evaluation seed")
  b = sub.add_parser("bandit", help="regret curves of epsilon-greedy sample averages on a bandit")
  b.add_argument("--env", default="BernoulliBandit-misc", help=f"one of {', '.join(envs.BANDITS)}")
  b.add_argument("--epsilons", type=float, nargs="+", default=[0.0, 0.01, 0.1])
  b.add_argument("--steps", type=int, default=1000)
  b.add_argument("--runs", type=int, default=2000, help="independent bandits averaged over")
  b.add_argument("--seed", type=int, default=0)
  b.add_argument("--out", default="runs/bandit", help="directory for bandit.json and regret.png")
  return p


def main(argv=None) -> int:
  args = parser().parse_args(argv)
  from jaxgan.train import TrainingDivergedError

  try:
    return {"train": _train, "eval": _eval, "bandit": _bandit}[args.command](args)
  except TrainingDivergedError as err:
    print(f"jaxrl: {err}", file=sys.stderr)
    return 1
  except (ValueError, FileNotFoundError, FileExistsError, ImportError) as err:
    print(f"jaxrl {args.command}: error: {err}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())
