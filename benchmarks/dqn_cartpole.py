"""DQN on CartPole-v1 with CleanRL's hyperparameters (the `cleanrl` preset, 500k steps): environment
steps per second of the whole jitted training loop, one seed and N seeds vmapped, as the preset is
(1 environment, an update every 10 steps) and in PureJaxRL's layout (`--num-envs 10`: 10
environments, one step each between updates; the same 50k updates), with the final greedy return of
each seed. Peers, in the same run, sides alternated over --rounds:

  --purejaxrl PATH      PureJaxRL's dqn.py (a copy of purejaxrl/dqn.py), run by --purejaxrl-python
                        (an environment with flashbax; default: --peer-python)
  --peer-python PYTHON  stable-baselines3 and sbx-rl (1 seed each, their own loop)

`--devices N` adds the vmapped rows with the seeds split over N devices (`jaxrl train dqn
--devices N`; on a CPU-only machine N CPU devices, each running its seeds on a thread of its own).

  python benchmarks/dqn_cartpole.py --seeds 8 --purejaxrl ../shared/peers/purejaxrl/dqn.py \
      --purejaxrl-python peer-venv/bin/python

Timings exclude compilation (ahead-of-time compiled first, then run). The greedy return is the mean
over 100 evaluation episodes per seed at epsilon 0.
"""

import argparse
import functools
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402
import numpy as np  # noqa: E402

import common  # noqa: E402
from jaxrl import dqn  # noqa: E402
from jaxrl.dqn import program as dqn_program  # noqa: E402
from jaxrun import devices as run_devices  # noqa: E402


def compiled_run(config: dqn.DQNConfig, keys, devices: int = 1):
  """``run() -> (final states, seconds without compilation, per-iteration metrics)`` of vmapped
  runs, compiled once, the seeds split over ``devices`` (as `jaxrl train dqn --devices`)."""
  train = run_devices.over_devices(jax.vmap(dqn.make_train(config)), devices)
  compiled = jax.jit(train).lower(keys).compile()

  def run():
    t = time.perf_counter()
    states, metrics = jax.block_until_ready(compiled(keys))
    return states, time.perf_counter() - t, metrics
  return run


def timed_run(config: dqn.DQNConfig, keys) -> tuple[dict, float, dict]:
  """(final states, seconds without compilation, per-iteration metrics) of one vmapped run."""
  return compiled_run(config, keys)()


def greedy_returns(config, states, seed: int, episodes: int) -> np.ndarray:
  evaluate = dqn_program.make_evaluate(config, episodes, 0.0)
  keys = jax.random.split(jax.random.key(10_000 + seed), states.env_steps.shape[0])
  return np.asarray(evaluate(states.params, keys)).mean(-1)


def curve(config, metrics, chunk_steps: int) -> dict:
  """Training-episode return per chunk of ``chunk_steps`` environment steps: each seed's, and the
  interquartile mean over seeds with its 95% stratified bootstrap interval (several seeds)."""
  iters = chunk_steps // config.train_every
  n = metrics["episodes"].shape[1] // iters
  m = jax.tree.map(lambda x: x[:, :n * iters].reshape(x.shape[0], n, iters), metrics)
  returns = np.asarray(dqn.summarize(m)["episode_return"], float)  # [seeds, chunks]
  return per_seed_curve([(i + 1) * chunk_steps for i in range(n)], returns)


def per_seed_curve(steps: list, returns: np.ndarray) -> dict:
  """``{"steps", "return_per_seed" [seeds][points], "return_iqm"[, "return_iqm_ci95"]}``."""
  from jaxrun import aggregate

  centre, low, high = aggregate.curve_band(returns.T)
  out = {"steps": list(steps), "return_per_seed": returns.round(2).tolist(),
         "return_iqm": centre[0].round(2).tolist()}
  if returns.shape[0] > 1:
    out["return_iqm_ci95"] = [low[0].round(2).tolist(), high[0].round(2).tolist()]
  return out


def plot_curves(curves: dict, path: str) -> None:
  """One panel per ``{title: curve}`` (:func:`per_seed_curve`): training-episode return, the
  interquartile mean over seeds and its 95% stratified bootstrap band."""
  from jaxrun import plots

  panels = [(title, "environment steps", "training episode return (IQM, 95% CI)",
             [([""], np.array(c["steps"]), np.array(c["return_per_seed"], float).T)])
            for title, c in curves.items()]
  plots.banded_curves(panels, path)


def spread(values: list[float]) -> str:
  return f"{min(values):,.0f} - {max(values):,.0f}" if len(values) > 1 else f"{values[0]:,.0f}"


def spread_s(values: list[float]) -> str:
  return f"{min(values):.1f} - {max(values):.1f}" if len(values) > 1 else f"{values[0]:.1f}"


def purejaxrl_run(args, python: str, seeds: int) -> dict:
  """One run of PureJaxRL's DQN in ``python`` (benchmarks/peers/purejaxrl_dqn.py's JSON line)."""
  r = common.run_peer(python, "purejaxrl_dqn.py", args.purejaxrl, str(args.steps), str(seeds))
  if r is None:
    raise SystemExit("PureJaxRL did not run (see above): check --purejaxrl and --purejaxrl-python.")
  return r


def whole_processes(args, pure_python: str) -> dict:
  """Wall seconds of whole processes (start-up, imports, compilation, training, and for jaxrl its
  checkpoints, metrics and final evaluation), one seed, sides alternated over the rounds: the
  command with the cleanrl preset as it is and with PureJaxRL's 10 environments."""
  import subprocess
  import tempfile

  def jaxrl_cli(*flags):
    with tempfile.TemporaryDirectory() as tmp:
      cmd = [sys.executable, "-m", "jaxrl.cli", "train", "dqn", "--env", "CartPole-v1", "--preset",
             "cleanrl", *flags, "--steps", str(args.steps), "--seeds", "1", "--seed", str(args.seed),
             "--eval-every", "0", "--out", os.path.join(tmp, "run"), "--no-progress"]
      # A fresh user cache: compiled from scratch, as PureJaxRL's process is (a later run of
      # the command reads its programs back from ~/.cache/jaxgan/xla-HOST).
      env = {**os.environ, "JAXGAN_CACHE": os.path.join(tmp, "cache")}
      t = time.perf_counter()
      proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
      wall = time.perf_counter() - t
      if proc.returncode:
        raise SystemExit(f"jaxrl train dqn failed: {proc.stderr.strip().splitlines()[-1:]}")
      print(proc.stderr.strip().splitlines()[-1], flush=True)  # the run's line of phases
      return wall

  def purejaxrl():
    t = time.perf_counter()
    purejaxrl_run(args, pure_python, 1)
    return time.perf_counter() - t

  # The preset as it is (one environment), and PureJaxRL's own layout of 10 environments.
  sides = {"jaxrl train dqn --preset cleanrl (whole command)": jaxrl_cli,
           "jaxrl train dqn --preset cleanrl --num-envs 10 (whole command)":
               functools.partial(jaxrl_cli, "--num-envs", "10")}
  if args.purejaxrl:
    sides["PureJaxRL (whole process)"] = purejaxrl
  walls = {}
  for side, _ in common.alternated(sides, args.rounds):
    walls.setdefault(side, []).append(sides[side]())
    print(side, f"{walls[side][-1]:.1f} s", flush=True)
  return walls


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--steps", type=int, default=500_000, help="environment steps per seed")
  p.add_argument("--seeds", type=int, default=8, help="seeds of the vmapped rows (1 seed is always run)")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--rounds", type=int, default=2, help="timings of each side, alternating the order")
  p.add_argument("--episodes", type=int, default=100, help="greedy evaluation episodes per seed")
  p.add_argument("--purejaxrl", default=None, help="path of PureJaxRL's dqn.py")
  p.add_argument("--purejaxrl-python", default=None, help="python with PureJaxRL's dependencies")
  p.add_argument("--peer-python", default=None,
                 help="python of an environment with stable-baselines3, sbx-rl and gymnasium")
  p.add_argument("--peer-steps", type=int, default=None,
                 help="environment steps for the SB3/SBX peers (default --steps)")
  p.add_argument("--cli", action="store_true",
                 help="also time whole processes: `jaxrl train dqn` (1 seed; the cleanrl preset and "
                      "with --num-envs 10) against PureJaxRL's")
  p.add_argument("--devices", type=int, default=1,
                 help="also time the vmapped rows with the seeds split over this many devices "
                      "(CPU devices are made for it on a CPU-only machine)")
  p.add_argument("--name", default="dqn_cartpole")
  args = p.parse_args()
  run_devices.make_cpu_devices(args.devices)  # before JAX starts a backend
  pure_python = args.purejaxrl_python or args.peer_python or sys.executable

  layouts = {"cleanrl preset": dqn.DQNConfig.cleanrl("CartPole-v1", total_steps=args.steps),
             "--num-envs 10": dqn.DQNConfig.cleanrl("CartPole-v1", total_steps=args.steps, num_envs=10)}
  rows, timings, returns_by, metrics_by = [], {}, {}, {}
  for seeds in sorted({1, args.seeds}):
    keys = dqn_program.seed_keys(args.seed, seeds)[0]
    configs = {f"jaxrl, {name}": config for name, config in layouts.items()}
    if seeds > 1 and args.devices > 1:
      configs.update({f"jaxrl, {name}, seeds over {args.devices} devices": config
                      for name, config in layouts.items()})
    sides = {side: compiled_run(config, keys, args.devices if "devices" in side else 1)
             for side, config in configs.items()}
    if args.purejaxrl:
      sides["PureJaxRL (10 envs)"] = functools.partial(purejaxrl_run, args, pure_python, seeds)
    for side, r in common.alternated(sides, args.rounds):
      out = sides[side]()
      if isinstance(out, dict):
        seconds, final = out["seconds"], {"train_return_mean": out["train_return_mean"]}
      else:
        states, seconds, metrics = out
        final = {"states": states, "metrics": metrics}
      timings.setdefault((side, seeds), []).append(seeds * args.steps / seconds)
      print(side, seeds, "seeds, round", r, f"{timings[side, seeds][-1]:,.0f} steps/s", flush=True)
      returns_by[side, seeds] = final
    peer_rate = np.median(timings["PureJaxRL (10 envs)", seeds]) if args.purejaxrl else None
    for side in sides:
      rates, final = timings[side, seeds], returns_by[side, seeds]
      row = {"implementation": side, "seeds": seeds, "steps_per_second": spread(rates),
             "median_steps_per_second": float(np.median(rates))}
      if "states" in final:
        per_seed = greedy_returns(configs[side], final["states"], args.seed, args.episodes)
        row["greedy_return"] = float(per_seed.mean())
        returns_by[side, seeds] = per_seed.tolist()
        metrics_by[side, seeds] = final["metrics"]
      else:
        row["train_return (last 1000 iterations)"] = final["train_return_mean"]
      if peer_rate:
        row["vs PureJaxRL"] = round(float(np.median(rates) / peer_rate), 2)
      rows.append(row)
      print(row, flush=True)

  whole = whole_processes(args, pure_python) if args.cli else {}
  peer_wall = np.median(whole["PureJaxRL (whole process)"]) if "PureJaxRL (whole process)" in whole else None
  for side, walls in whole.items():
    rows.append({"implementation": side, "seeds": 1, "whole process seconds": spread_s(walls),
                 "median_whole_process_seconds": float(np.median(walls))})
    if peer_wall:  # as a speed: the peer's seconds over ours
      rows[-1]["vs PureJaxRL"] = round(float(peer_wall / np.median(walls)), 2)
    print(rows[-1], flush=True)

  peers = {}
  if args.peer_python:
    for library in ("sb3", "sbx"):
      r = common.run_peer(args.peer_python, "sb3_dqn.py", library, str(args.peer_steps or args.steps),
                          str(args.seed))
      if r is not None:
        peers[library] = r
        rows.append({"implementation": {"sb3": "Stable-Baselines3", "sbx": "SBX"}[library],
                     "seeds": 1, "steps_per_second": f"{r['steps_per_second']:,.0f}",
                     "median_steps_per_second": r["steps_per_second"],
                     "greedy_return": r["eval_return_mean"]})
        print(rows[-1], flush=True)

  main_side = ("jaxrl, cleanrl preset", args.seeds)
  config = layouts["cleanrl preset"]
  learning = curve(config, metrics_by[main_side], 10_000)
  returns = np.array(returns_by[main_side])
  os.makedirs(common.RESULTS, exist_ok=True)
  plot_curves({f"DQN CartPole-v1 (cleanrl preset), {args.seeds} seeds": learning},
              os.path.join(common.RESULTS, f"{args.name}.png"))
  one = float(np.median(timings["jaxrl, cleanrl preset", 1]))
  speedup = {k: one / v["steps_per_second"] for k, v in peers.items()}
  notes = (f"Steps per second: the range over {args.rounds} rounds (sides alternated each round; the "
           f"ratio is of medians), compilation excluded; the vmapped rows count the steps of all seeds. "
           f"Greedy return: mean over {args.episodes} episodes per seed at epsilon 0 (the most a "
           f"CartPole-v1 episode returns is 500). Per-seed returns (cleanrl preset, {args.seeds} seeds): "
           f"{', '.join(f'{r:.1f}' for r in returns)}. ")
  if args.purejaxrl:
    notes += ("PureJaxRL reports no greedy evaluation: its figure is its own training-episode "
              "return over its last 1,000 iterations. ")
  if speedup:
    notes += "One jaxrl seed is " + ", ".join(f"{v:.1f}x {k}" for k, v in speedup.items()) + \
        " (SB3/SBX: 1 seed, their own loop; Huber loss where CleanRL's is squared)."
  result = {"config": dict(vars(config)), "per_seed_greedy_return": returns.tolist(),
            "learning_curve": learning, "peers": peers, "speedup_vs_peers": speedup,
            "timings": {f"{side} / {seeds} seeds": rates for (side, seeds), rates in timings.items()},
            "whole_process_seconds": whole,
            "greedy_returns": {f"{side} / {seeds} seeds": v for (side, seeds), v in returns_by.items()
                               if isinstance(v, list)}}
  md = common.write(args.name, result, rows, notes)
  print(md)


if __name__ == "__main__":
  main()
