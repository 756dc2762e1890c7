"""The DQN run: seeds vmapped, iterations in jitted chunks, Python between chunks only.

A chunk is ``jit(vmap(dqn.run))`` over ``chunk_steps`` environment steps for every seed at once.
Between chunks: NaN check, one JSON line of metrics, the progress bar, greedy evaluation at
intervals, orbax checkpoints (the whole state: networks, optimiser, replay buffer, environments).
Iteration t of a seed uses ``fold_in(key, t)``, so a resumed run equals an uninterrupted one
bitwise (tested).

Run directory:
  config.json     run settings and the DQN config (rebuilds everything)
  checkpoints/    orbax checkpoints of the vmapped state (only finite states are saved)
  metrics.jsonl   one line per chunk: per-seed lists and their mean (``step`` = environment steps)
  curves.png      return (mean and spread over seeds) against environment steps and seconds
  eval.json       the final greedy evaluation
"""

import dataclasses
import json
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from jaxgan import plots
from jaxgan.train import TrainingDivergedError, all_finite, checkpoint_manager, config_from_json
from jaxrl import dqn


@dataclasses.dataclass(frozen=True)
class RunConfig:
  preset: str = "cleanrl"
  seeds: int = 1                  # independent runs, vmapped
  seed: int = 0
  chunk_steps: int = 10_000       # environment steps per jitted chunk (log and progress interval)
  eval_every: int = 50_000        # environment steps between greedy evaluations (0: at the end)
  checkpoint_every: int = 50_000  # environment steps
  keep_checkpoints: int = 2

  def __post_init__(self):
    if self.preset not in dqn.PRESETS:
      raise ValueError(f"unknown preset {self.preset!r}; choose one of {dqn.PRESETS}.")
    for name in ("seeds", "chunk_steps", "checkpoint_every", "keep_checkpoints"):
      if getattr(self, name) < 1:
        raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
    if self.eval_every < 0:
      raise ValueError(f"eval_every must be >= 0, got {self.eval_every}.")


def seed_keys(seed: int, seeds: int) -> tuple[jax.Array, jax.Array]:
  """(train keys [seeds], evaluation keys [seeds]): independent streams of one seed."""
  root = jax.random.key(seed)
  train_root, eval_root = jax.random.fold_in(root, 0), jax.random.fold_in(root, 1)
  split = lambda k: jax.vmap(lambda i: jax.random.fold_in(k, i))(jnp.arange(seeds))
  return split(train_root), split(eval_root)


def init_states(run: RunConfig, config: dqn.DQNConfig):
  return jax.jit(jax.vmap(lambda k: dqn.init(k, config)))(seed_keys(run.seed, run.seeds)[0])


def make_chunk(iterations: int):
  """states -> (states, per-seed summary of ``iterations`` iterations)."""
  def chunk(states):
    states, m = jax.vmap(lambda s: dqn.run(s, iterations))(states)
    return states, dqn.summarize(m)
  return jax.jit(chunk)


def make_evaluate(config: dqn.DQNConfig, episodes: int | None = None, epsilon: float | None = None):
  """(params [seeds], keys [seeds]) -> returns [seeds, episodes]."""
  return jax.jit(jax.vmap(lambda p, k: dqn.evaluate(p, config, k, episodes, epsilon)["returns"]))


def save_run_config(out: str, run: RunConfig, config: dqn.DQNConfig) -> None:
  with open(os.path.join(out, "config.json"), "w") as f:
    json.dump({"run": dataclasses.asdict(run), "dqn": dataclasses.asdict(config)}, f, indent=2)


def load_run_config(out: str) -> tuple[RunConfig, dqn.DQNConfig]:
  path = os.path.join(out, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{out} is not a jaxrl run directory (no config.json).")
  with open(path) as f:
    d = json.load(f)
  return RunConfig(**d["run"]), config_from_json(dqn.DQNConfig, d["dqn"])


def restore(out: str, step: int | None = None):
  """(run, config, states) from the run's latest (or ``step``'s) checkpoint."""
  run, config = load_run_config(out)
  template = init_states(run, config)
  with checkpoint_manager(out, run.keep_checkpoints) as mngr:
    step = mngr.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"{out} has no checkpoint yet.")
    if step not in mngr.all_steps():
      raise FileNotFoundError(f"{out} has no checkpoint at step {step}; it has "
                              f"{', '.join(map(str, sorted(mngr.all_steps())))}.")
    states = mngr.restore(step, args=ocp.args.StandardRestore(template))
  return run, config, states


def _summary_row(step: int, seconds: float, m: dict) -> dict:
  row = {"step": step, "seconds": round(seconds, 3)}
  for k, v in m.items():
    v = np.asarray(v)
    row[k] = v.tolist()
    if k == "episode_return":  # mean over the seeds that finished an episode in this chunk
      has = np.asarray(m["episodes"]) > 0
      row["episode_return_mean"] = float(v[has].mean()) if has.any() else None
  return row


def evaluation_summary(returns: np.ndarray) -> dict:
  per_seed = returns.mean(-1)
  return {"return_mean": float(per_seed.mean()), "return_std_over_seeds": float(per_seed.std()),
          "return_per_seed": per_seed.round(3).tolist(), "episodes_per_seed": int(returns.shape[-1])}


def train(config: dqn.DQNConfig, run: RunConfig | None = None, out: str = "runs/dqn",
          resume: bool = False, progress: bool = True, total_steps: int | None = None
          ) -> tuple[Any, dict]:
  """Trains ``run.seeds`` DQN agents (or, with ``resume``, continues the run in ``out``); returns
  (vmapped states, final metrics). On resume the saved configs rule, except that ``total_steps``
  may extend the run."""
  from tqdm.auto import tqdm

  if resume:  # checked before anything in ``out`` changes
    run, config, states = restore(out)
    done = int(states.iteration[0]) * config.train_every
    if total_steps is not None:
      if total_steps < done:
        raise ValueError(f"{out} is already at {done} environment steps; --steps must be at "
                         f"least that to resume it (got {total_steps}).")
      # Keep the epsilon schedule the run started with.
      config = dataclasses.replace(config, total_steps=total_steps,
                                   exploration_steps=config.epsilon_decay_steps)
      states = states.replace(config=config)
  elif os.path.exists(os.path.join(out, "config.json")):
    raise FileExistsError(f"{out} already holds a run; pass --resume to continue it or choose "
                          "another --out.")
  else:
    run = run or RunConfig()
    states = init_states(run, config)
  os.makedirs(out, exist_ok=True)
  save_run_config(out, run, config)
  metrics_path = os.path.join(out, "metrics.jsonl")
  iters_done = int(states.iteration[0])
  step = iters_done * config.train_every
  seconds_before = 0.0
  if resume:
    plots.truncate_jsonl(metrics_path, step)
    rows = plots.read_jsonl(metrics_path)
    seconds_before = rows[-1]["seconds"] if rows else 0.0

  total_iters = config.num_iterations
  chunk_iters = max(run.chunk_steps // config.train_every, 1)
  chunks: dict[int, Any] = {}
  evaluate = make_evaluate(config)
  eval_keys = seed_keys(run.seed, run.seeds)[1]
  bar = tqdm(total=total_iters * config.train_every, initial=step, disable=not progress,
             desc=f"dqn {config.env} x{run.seeds}", unit="step", unit_scale=True, dynamic_ncols=True)
  t0 = time.perf_counter() - seconds_before
  last: dict = {}
  mngr = checkpoint_manager(out, run.keep_checkpoints)
  try:
    with open(metrics_path, "a") as log:
      while iters_done < total_iters:
        n = min(chunk_iters - iters_done % chunk_iters, total_iters - iters_done)
        if n not in chunks:
          chunks[n] = make_chunk(n)
        new_states, m = chunks[n](states)  # the states stay on the device
        m = jax.device_get(m)
        if not (all_finite(m["loss"]) and all_finite(new_states.params)):
          good = mngr.latest_step()
          raise TrainingDivergedError(
              f"training diverged: non-finite loss or Q-network parameters between environment "
              f"steps {step} and {step + n * config.train_every}. The last good checkpoint "
              f"(step {good}) is kept in {out}; lower the learning rate or change the config, "
              "then start a new run (or --resume to retry from it).")
        states, prev = new_states, step
        iters_done += n
        step = iters_done * config.train_every
        row = _summary_row(step, time.perf_counter() - t0, m)
        done = iters_done == total_iters
        if done or (run.eval_every and step // run.eval_every > prev // run.eval_every):
          returns = np.asarray(evaluate(states.params, jax.vmap(jax.random.fold_in, (0, None))(
              eval_keys, step)))
          row["eval_return"] = returns.mean(-1).tolist()
          row["eval_return_mean"] = float(returns.mean())
          last["eval"] = evaluation_summary(returns)
        log.write(json.dumps(row) + "\n")
        log.flush()
        bar.update(step - prev)
        bar.set_postfix({k: f"{row[k]:.4g}" for k in ("episode_return_mean", "eval_return_mean")
                         if row.get(k) is not None}, refresh=False)
        if step // run.checkpoint_every > prev // run.checkpoint_every or done:
          mngr.save(step, args=ocp.args.StandardSave(states))
          mngr.wait_until_finished()
  finally:
    bar.close()
    mngr.close()
  rows = plots.read_jsonl(metrics_path)
  learning_curves(rows, os.path.join(out, "curves.png"), f"DQN {config.env} ({run.preset})")
  last.update({"env_steps": step, "seconds": time.perf_counter() - t0})
  if "eval" in last:
    with open(os.path.join(out, "eval.json"), "w") as f:
      json.dump({"env": config.env, "env_steps": step, **last["eval"]}, f, indent=2)
  return states, last


def _mean_spread(rows: list[dict], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Rows that have ``key``: (index, mean over seeds, std over seeds); NaN where no seed has a value."""
  idx = [i for i, r in enumerate(rows) if key in r]
  values = np.array([[np.nan if v is None else v for v in rows[i][key]] for i in idx], float)
  if key == "episode_return":  # a seed with no finished episode in a chunk has no return there
    counts = np.array([rows[i]["episodes"] for i in idx])
    values = np.where(counts > 0, values, np.nan)
  with np.errstate(all="ignore"):
    return np.array(idx), np.nanmean(values, 1), np.nanstd(values, 1)


def learning_curves(rows: list[dict], path: str, title: str = "") -> None:
  """Training-episode return and greedy-evaluation return, mean and spread (one std) over seeds,
  against environment steps (left) and wall-clock seconds (right)."""
  if not rows:
    return
  plt = plots._pyplot()
  fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
  for key, label in (("episode_return", "training episodes"), ("eval_return", "greedy evaluation")):
    idx, mean, std = _mean_spread(rows, key)
    if not len(idx):
      continue
    for ax, x_key in zip(axes, ("step", "seconds")):
      x = np.array([rows[i][x_key] for i in idx])
      ax.plot(x, mean, label=label, marker="o" if key == "eval_return" else None, ms=3)
      ax.fill_between(x, mean - std, mean + std, alpha=0.25)
  for ax, xlabel in zip(axes, ("environment steps", "seconds")):
    ax.set_xlabel(xlabel)
    ax.set_ylabel("episode return")
    ax.legend(fontsize=8)
  fig.suptitle(title)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
