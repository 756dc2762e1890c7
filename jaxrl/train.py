"""The DQN run: seeds vmapped, iterations in jitted chunks, Python between chunks only.

A chunk is ``jit(vmap(dqn.run))`` over ``chunk_steps`` environment steps for every seed at once.
Between chunks: NaN check, one JSON line of metrics, the progress bar, evaluation at
intervals, orbax checkpoints (the whole state: networks, optimiser, replay buffer, environments).
Iteration t of a seed uses ``fold_in(key, t)``, so a resumed run equals an uninterrupted one
bitwise (tested).

Atari (envpool) runs one seed (a pool cannot be vmapped; run seeds as separate processes) with the
environments stepped inside the jitted chunk through envpool's XLA interface (on a TPU, where
envpool has no XLA target, from Python: the host path, said on stderr). A C++ pool's state cannot
be saved, so the pool is created afresh, seeded from the run seed and the step, at the start and
after every checkpoint (the episodes in progress there end; one per environment per checkpoint):
a resumed Atari run also equals the uninterrupted one bitwise (tested). Each new pool, and each
evaluation's pool, costs one compilation: envpool's handle is part of the compiled call.

Run directory:
  config.json     run settings and the DQN config (rebuilds everything)
  checkpoints/    orbax checkpoints of the vmapped state (only finite states are saved)
  metrics.jsonl   one line per chunk: per-seed lists and their mean (``step`` = environment steps)
  curves.png      return (mean and spread over seeds) against environment steps and seconds
  eval.json       the final evaluation (epsilon: the config's eval_epsilon; 0 = greedy)
"""

import dataclasses
import functools
import json
import os
import sys
import time
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from jaxgan import plots
from jaxgan.train import TrainingDivergedError, all_finite, checkpoint_manager, config_from_json
from jaxrl import dqn
from jaxrl.envs import atari


@dataclasses.dataclass(frozen=True)
class RunConfig:
  preset: str = "cleanrl"
  seeds: int = 1                  # independent runs, vmapped
  seed: int = 0
  chunk_steps: int = 10_000       # environment steps per jitted chunk (log and progress interval)
  eval_every: int = 50_000        # environment steps between evaluations (0: at the end)
  checkpoint_every: int = 50_000  # environment steps
  keep_checkpoints: int = 2
  env_stepping: str = "auto"      # Atari: xla | host | auto (xla, host on TPU)

  def __post_init__(self):
    if self.preset not in dqn.PRESETS:
      raise ValueError(f"unknown preset {self.preset!r}; choose one of {dqn.PRESETS}.")
    if self.env_stepping not in ("auto", "xla", "host"):
      raise ValueError(f"env_stepping must be auto, xla or host, got {self.env_stepping!r}.")
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


def abstract_states(run: RunConfig, config: dqn.DQNConfig):
  """Shapes and dtypes of the run's states, allocating nothing (a checkpoint-restore template)."""
  keys = seed_keys(run.seed, run.seeds)[0]
  if config.atari:  # one seed, no seed axis
    spec = dqn.environment(config.env)
    start = (jax.ShapeDtypeStruct((config.num_envs, *spec.observation_shape), jnp.uint8),
             jax.eval_shape(lambda: atari.blank_state(config.num_envs)))
    return jax.eval_shape(lambda k, s: dqn.init(k, config, s), keys[0], start)
  return jax.eval_shape(jax.vmap(lambda k: dqn.init(k, config)), keys)


def make_chunk(iterations: int):
  """states -> (states, per-seed summary of ``iterations`` iterations); the states are donated
  (updated in place)."""
  def chunk(states):
    states, m = jax.vmap(lambda s: dqn.run(s, iterations))(states)
    return states, dqn.summarize(m)
  return jax.jit(chunk, donate_argnums=0)


def _seed_axis(tree):
  return jax.tree.map(lambda x: x[None], tree)


def first_seed(x) -> int:
  """A counter of the states (vmapped over seeds, or Atari's single unbatched state)."""
  return int(np.ravel(np.asarray(x))[0])


def env_stepping(run: RunConfig) -> str:
  """How Atari environments are stepped: ``xla`` unless asked otherwise or on a TPU."""
  if run.env_stepping != "auto":
    return run.env_stepping
  if jax.default_backend() == "tpu":
    print("jaxrl: envpool has no XLA target for TPU; stepping the Atari environments from Python "
          "(the host path).", file=sys.stderr)
    return "host"
  return "xla"


def make_atari_chunk(iterations: int, pool: atari.Pool, xla: bool):
  """:func:`make_chunk` for one Atari seed on ``pool``: the state has no seed axis; the summary
  has one (of 1), as the log expects."""
  if xla:
    act = functools.partial(dqn.act_and_store_frames, pool.xla_step)

    def chunk(state):
      state, m = dqn.run(state, iterations, act)
      return state, dqn.summarize(_seed_axis(m))
    return jax.jit(chunk, donate_argnums=0)

  host_run = dqn.make_host_run(pool.host_step)

  def host_chunk(state):
    state, m = host_run(state, iterations)
    return state, dqn.summarize(_seed_axis(m))
  return host_chunk


def make_evaluate(config: dqn.DQNConfig, episodes: int | None = None, epsilon: float | None = None,
                  xla: bool = True):
  """(params [seeds], keys [seeds]) -> returns [seeds, episodes]. Atari: (params of the one seed,
  keys [1]) -> returns [1, episodes]."""
  if config.atari:
    def evaluate(params, keys):
      return np.asarray(dqn.evaluate_atari(params, config, keys[0], episodes, epsilon,
                                           xla)["returns"])[None]
    return evaluate
  return jax.jit(jax.vmap(lambda p, k: dqn.evaluate(p, config, k, episodes, epsilon)["returns"]))


def pool_seed(seed: int, step: int) -> int:
  """envpool's seed for the pool that starts at ``step`` (its environments take seed + i)."""
  return int(np.random.SeedSequence([seed, step]).generate_state(1)[0] % 2**30)


class SeedsLoop:
  """The gymnax loop: every seed's whole state (environments included) in one vmapped pytree.
  (:class:`AtariLoop` has the same methods.)"""

  def __init__(self, run: RunConfig, config: dqn.DQNConfig):
    self.run, self.config = run, config
    self.evaluate = make_evaluate(config)
    self._chunks: dict[int, Any] = {}

  def init(self):
    return init_states(self.run, self.config)

  def chunk(self, iterations: int):
    if iterations not in self._chunks:
      self._chunks[iterations] = make_chunk(iterations)
    return self._chunks[iterations]

  def restart(self, states, step: int):
    """After a checkpoint (or restore) at ``step``: nothing to do, the environments were saved."""
    return states

  def close(self) -> None:
    pass


class AtariLoop:
  """One seed on an envpool pool, recreated at the start and after every checkpoint."""

  def __init__(self, run: RunConfig, config: dqn.DQNConfig):
    if run.seeds != 1:
      raise ValueError(f"an Atari run trains one seed (envpool pools cannot be vmapped), got "
                       f"--seeds {run.seeds}; start one run per seed with --seed.")
    per_env = run.checkpoint_every // config.num_envs
    if per_env < atari.MNIH2015["max_episode_steps"]:
      print(f"jaxrl: each environment runs {per_env} steps between checkpoints, where the pool "
            f"restarts; games longer than that never finish (raise --checkpoint-every).",
            file=sys.stderr)
    self.run, self.config, self.pool = run, config, None
    self.xla = env_stepping(run) == "xla"
    self.evaluate = make_evaluate(config, xla=self.xla)
    self._chunks = {}

  def _new_pool(self, step: int):
    self.close()
    self.pool = atari.Pool(self.config.env, self.config.num_envs, pool_seed(self.run.seed, step),
                           **self.config.pool_options)
    self._chunks = {}  # a chunk is compiled against one pool
    return self.pool.reset()

  def init(self):
    start = self._new_pool(0)
    key = seed_keys(self.run.seed, 1)[0][0]
    return jax.jit(lambda k, s: dqn.init(k, self.config, s))(key, start)

  def chunk(self, iterations: int):
    if iterations not in self._chunks:
      self._chunks[iterations] = make_atari_chunk(iterations, self.pool, self.xla)
    return self._chunks[iterations]

  def restart(self, state, step: int):
    start = self._new_pool(step)
    return jax.jit(dqn.restart_pool, donate_argnums=0)(state, start)

  def close(self) -> None:
    if self.pool is not None:
      jax.effects_barrier()  # nothing may still be stepping the pool
      self.pool.close()
      self.pool = None


def make_loop(run: RunConfig, config: dqn.DQNConfig) -> SeedsLoop | AtariLoop:
  return AtariLoop(run, config) if config.atari else SeedsLoop(run, config)


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
  template = abstract_states(run, config)
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


def evaluation_summary(returns: np.ndarray, env: str = "") -> dict:
  """Mean and spread over seeds of the evaluation returns [seeds, episodes]; for an Atari game with
  reference scores also the human-normalised score of the mean."""
  per_seed = returns.mean(-1)
  out = {"return_mean": float(per_seed.mean()), "return_std_over_seeds": float(per_seed.std()),
         "return_per_seed": per_seed.round(3).tolist(), "episodes_per_seed": int(returns.shape[-1])}
  if atari.is_game(env) and env.split("-")[0] in atari.REFERENCE_SCORES:
    out["human_normalized_score"] = atari.human_normalized_score(env, out["return_mean"])
  return out


def train(config: dqn.DQNConfig, run: RunConfig | None = None, out: str = "runs/dqn",
          resume: bool = False, progress: bool = True, total_steps: int | None = None
          ) -> tuple[Any, dict]:
  """Trains ``run.seeds`` DQN agents (or, with ``resume``, continues the run in ``out``); returns
  (vmapped states, final metrics). On resume the saved configs rule, except that ``total_steps``
  may extend the run."""
  from tqdm.auto import tqdm

  if resume:  # checked before anything in ``out`` changes
    run, config, states = restore(out)
    done = first_seed(states.iteration) * config.train_every
    if total_steps is not None:
      if total_steps < done:
        raise ValueError(f"{out} is already at {done} environment steps; --steps must be at "
                         f"least that to resume it (got {total_steps}).")
      # Keep the epsilon schedule the run started with.
      config = dataclasses.replace(config, total_steps=total_steps,
                                   exploration_steps=config.epsilon_decay_steps)
      states = states.replace(config=config)
    loop = make_loop(run, config)
  elif os.path.exists(os.path.join(out, "config.json")):
    raise FileExistsError(f"{out} already holds a run; pass --resume to continue it or choose "
                          "another --out.")
  else:
    run = run or RunConfig()
    loop = make_loop(run, config)
    states = loop.init()
  os.makedirs(out, exist_ok=True)
  save_run_config(out, run, config)
  metrics_path = os.path.join(out, "metrics.jsonl")
  iters_done = first_seed(states.iteration)
  step = iters_done * config.train_every
  seconds_before = 0.0
  if resume:
    plots.truncate_jsonl(metrics_path, step)
    rows = plots.read_jsonl(metrics_path)
    seconds_before = rows[-1]["seconds"] if rows else 0.0

  total_iters = config.num_iterations
  chunk_iters = max(run.chunk_steps // config.train_every, 1)
  eval_keys = seed_keys(run.seed, run.seeds)[1]
  bar = tqdm(total=total_iters * config.train_every, initial=step, disable=not progress,
             desc=f"dqn {config.env} x{run.seeds}", unit="step", unit_scale=True, dynamic_ncols=True)
  t0 = time.perf_counter() - seconds_before
  last: dict = {}
  mngr = checkpoint_manager(out, run.keep_checkpoints)
  try:
    if resume and iters_done < total_iters:
      states = loop.restart(states, step)
    with open(metrics_path, "a") as log:
      while iters_done < total_iters:
        n = min(chunk_iters - iters_done % chunk_iters, total_iters - iters_done)
        new_states, m = loop.chunk(n)(states)  # the states stay on the device (donated)
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
          returns = np.asarray(loop.evaluate(states.params, jax.vmap(jax.random.fold_in, (0, None))(
              eval_keys, step)))
          row["eval_return"] = returns.mean(-1).tolist()
          row["eval_return_mean"] = float(returns.mean())
          last["eval"] = evaluation_summary(returns, config.env)
        log.write(json.dumps(row) + "\n")
        log.flush()
        bar.update(step - prev)
        bar.set_postfix({k: f"{row[k]:.4g}" for k in ("episode_return_mean", "eval_return_mean")
                         if row.get(k) is not None}, refresh=False)
        if step // run.checkpoint_every > prev // run.checkpoint_every or done:
          mngr.save(step, args=ocp.args.StandardSave(states))
          mngr.wait_until_finished()
          if not done:
            states = loop.restart(states, step)
  finally:
    bar.close()
    mngr.close()
    loop.close()
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
  with warnings.catch_warnings():  # a chunk where no seed finished an episode has no mean: NaN
    warnings.simplefilter("ignore", RuntimeWarning)
    return np.array(idx), np.nanmean(values, 1), np.nanstd(values, 1)


def learning_curves(rows: list[dict], path: str, title: str = "") -> None:
  """Training-episode return and evaluation return, mean and spread (one std) over seeds,
  against environment steps (left) and wall-clock seconds (right)."""
  if not rows:
    return
  plt = plots._pyplot()
  fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
  for key, label in (("episode_return", "training episodes"), ("eval_return", "evaluation")):
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
