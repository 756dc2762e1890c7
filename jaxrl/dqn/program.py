"""DQN on the run layer (``jaxrl train dqn``): what the loop runs, with the seeds in one program.

A chunk is ``jit(vmap(run))`` over ``log_every`` environment steps for every seed at once, its
state donated (updated in place); with ``--seed-layout loops`` each seed runs its own loop in the
chunk instead (:func:`jaxrun.devices.over_runs`), which keeps every seed bitwise its run alone.
Between chunks: one JSON line of metrics (per-seed lists and their mean), evaluation at
intervals, checkpoints of the whole state (networks, optimiser, replay buffer, environments).
Iteration t of a seed uses ``fold_in(key, t)``, so a resumed run equals an uninterrupted one
bitwise. The run's keys: per seed, ``per_index(streams(seed, 2)[0], seeds)`` to train and ``[1]``
to evaluate.

Atari (envpool) runs one seed (a pool cannot be vmapped; run seeds as separate processes) with the
environments stepped inside the jitted chunk through envpool's XLA interface (on a TPU, where
envpool has no XLA target, from Python: the host path, said on stderr). A C++ pool's state cannot
be saved, so the pool is created afresh, seeded from the run seed and the step, at the start and
after every checkpoint (the episodes in progress there end; one per environment per checkpoint):
a resumed Atari run also equals the uninterrupted one bitwise. Each new pool, and each
evaluation's pool, costs one compilation: envpool's handle is part of the compiled call.
"""

import dataclasses
import functools
import sys

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import envs
from jaxrl.dqn import algorithm as dqn
from jaxrl.dqn import atari as dqn_atari
from jaxrl.dqn.config import (PRESETS, DQNConfig, DQNSettings, check_environment, parse_sweep,
                              sweep_grid)
from jaxrl.envs import atari
from jaxrun import Method, Program, aggregate, hosts, keys, plots, sweeps
from jaxrun.devices import on_first_device, over_devices, over_runs, place_runs, runs_mesh


def seed_keys(seed: int, seeds: int) -> tuple[jax.Array, jax.Array]:
  """(train keys [seeds], evaluation keys [seeds]): independent streams of one seed."""
  train_root, eval_root = keys.streams(seed, 2)
  return keys.per_index(train_root, seeds), keys.per_index(eval_root, seeds)


def first_seed(x) -> int:
  """A counter of the states (vmapped over seeds, or Atari's single unbatched state)."""
  return int(np.ravel(hosts.to_host(x))[0])


def env_stepping(settings: DQNSettings) -> str:
  """How Atari environments are stepped: ``xla`` unless asked otherwise or on a TPU."""
  if settings.env_stepping != "auto":
    return settings.env_stepping
  if jax.default_backend() == "tpu":
    print("jaxrl: envpool has no XLA target for TPU; stepping the Atari environments from Python "
          "(the host path).", file=sys.stderr)
    return "host"
  return "xla"


@functools.cache
def make_evaluate(config: DQNConfig, episodes: int | None = None, epsilon: float | None = None,
                  xla: bool = True, layout: str = "vmap"):
  """(params [seeds], keys [seeds]) -> returns [seeds, episodes], the seeds laid out as
  :func:`jaxrun.devices.over_runs` does. Atari: (params of the one seed, keys [1]) -> returns [1,
  episodes]."""
  if config.atari:
    def evaluate(params, keys_):
      return np.asarray(dqn_atari.evaluate_atari(params, config, keys_[0], episodes, epsilon,
                                                 xla)["returns"])[None]
    return evaluate
  return jax.jit(over_runs(lambda p, k: dqn.evaluate(p, config, k, episodes, epsilon)["returns"],
                           layout))


def evaluation_summary(returns: np.ndarray, env: str = "") -> dict:
  """The evaluation returns [seeds, episodes] over seeds: each seed's mean return, their mean and
  spread, and (``return_aggregate``) their interquartile mean with 95% stratified bootstrap
  intervals (Agarwal et al. 2021); for an Atari game with reference scores also the
  human-normalised score of the mean."""
  per_seed = returns.mean(-1)
  out = {"return_mean": float(per_seed.mean()), "return_std_over_seeds": float(per_seed.std()),
         "return_per_seed": per_seed.round(3).tolist(), "episodes_per_seed": int(returns.shape[-1]),
         "return_aggregate": aggregate.summary(per_seed)}
  if atari.is_game(env) and env.split("-")[0] in atari.REFERENCE_SCORES:
    out["human_normalized_score"] = atari.human_normalized_score(env, out["return_mean"])
  return out


def summary_row(step: int, seconds: float, m: dict) -> dict:
  row = {"step": step, "seconds": round(seconds, 3)}
  for k, v in m.items():
    v = np.asarray(v)
    row[k] = v.tolist()
    if k == "episode_return":  # mean over the seeds that finished an episode in this chunk
      has = np.asarray(m["episodes"]) > 0
      row["episode_return_mean"] = float(v[has].mean()) if has.any() else None
  return row


@functools.cache
def seeds_chunk(iterations: int, devices: int, layout: str):  # all given always: one cache entry
  """``chunk(states) -> (states, per-seed summary)``: ``iterations`` iterations of every seed, the
  states donated (updated in place), the seeds split over ``devices`` and laid out on each as
  :func:`jaxrun.devices.over_runs` does. One per (length, devices, layout) in a process (the
  config rides in the states), so that a resume or the next run of the same config reuses its
  compilation."""
  def chunk(states):
    states, m = over_runs(lambda s: dqn.run(s, iterations), layout)(states)
    return states, dqn.summarize(m)
  chunk = jax.jit(over_devices(chunk, devices), donate_argnums=0)
  return chunk if devices == 1 else lambda states: chunk(*place_runs((states,), devices))


def _seed_axis(tree):
  return jax.tree.map(lambda x: x[None], tree)


class SeedsProgram(Program):
  """The gymnax run: every run's whole state (environments included) in one vmapped pytree. The
  runs are the seeds, or with ``--sweep`` every configuration of the grid times the seeds
  (configuration-major: run ``c * seeds + s`` is seed ``s`` of configuration ``c``, with the keys
  of seed ``s`` of a standalone run, so it trains exactly what that run trains)."""

  unit = "step"
  steps_name = "environment steps"
  evaluates_into_rows = True   # eval_return, eval_return_mean

  def __init__(self, settings: DQNSettings, config: DQNConfig, loop, out: str):
    self.settings, self.config, self.out = settings, config, out
    self.sweep_values = parse_sweep(settings.sweep)
    self.grid = sweep_grid(config, self.sweep_values)
    self.steps_per_iteration = config.train_every
    shape = f"{len(self.grid)}x{settings.seeds}" if self.sweep else f"{settings.seeds}"
    self.description = f"dqn {config.env} x{shape}"
    self.train_keys, self.eval_keys = self.run_keys(loop.seed)
    self.title = f"DQN {config.env}"

  @property
  def sweep(self) -> bool:
    return bool(self.settings.sweep)

  def run_keys(self, seed: int) -> tuple[jax.Array, jax.Array]:
    """(train keys, evaluation keys) of every run: the seeds' keys, repeated per configuration."""
    return tuple(jnp.concatenate([k] * len(self.grid)) for k in seed_keys(seed, self.settings.seeds))

  def hyperparameters(self) -> dict:
    """Every run's :func:`dqn.hyperparameters`, stacked [runs]."""
    per_run = [dqn.hyperparameters(c) for _, c in self.grid for _ in range(self.settings.seeds)]
    return jax.tree.map(lambda *x: jnp.stack(x), *per_run)

  def init(self):
    init = over_runs(lambda k, h: dqn.init(k, self.config, hyper=h), self.settings.seed_layout)
    n = self.settings.devices
    return jax.jit(over_devices(init, n))(*place_runs((self.train_keys, self.hyperparameters()), n))

  def step(self, state) -> int:
    return first_seed(state.iteration) * self.config.train_every

  def make_chunk(self, iterations: int):
    return seeds_chunk(iterations, self.settings.devices, self.settings.seed_layout)

  def compile_chunk(self, iterations: int):  # (Atari's chunk is compiled for its pool: made in init)
    if self.settings.devices == 1 and not self.config.atari:
      seeds_chunk(iterations, 1, self.settings.seed_layout).lower(
          on_first_device(self.template())).compile()

  def rows(self, step, iterations, metrics, seconds):
    row = summary_row(step + iterations * self.steps_per_iteration, seconds, metrics)
    if self.sweep:  # each configuration's mean over its seeds that finished an episode
      ret = self._per_config(np.asarray(metrics["episode_return"], float))
      has = self._per_config(np.asarray(metrics["episodes"]) > 0)
      row["episode_return_per_config"] = [float(r[h].mean()) if h.any() else None
                                          for r, h in zip(ret, has)]
    return [row]

  def _per_config(self, per_run: np.ndarray) -> np.ndarray:  # [runs, ...] -> [configs, seeds, ...]
    return per_run.reshape(len(self.grid), self.settings.seeds, *per_run.shape[1:])

  def watch(self, state, metrics):
    return metrics["loss"], state.params  # the replay buffer is too large to scan every chunk

  def evaluator(self, episodes=None, epsilon=None):
    return make_evaluate(self.config, episodes, epsilon, layout=self.settings.seed_layout)

  def precompile(self, state):
    """The default evaluation's program, for the params :meth:`evaluate` passes (on the first
    device): about 1 s of a CartPole command on 2 CPU cores. Atari's is compiled per pool."""
    if not self.config.atari:
      self.evaluator().lower(on_first_device(state.params), self.eval_keys).compile()

  def evaluate(self, state, step, episodes=None, epsilon=None, eval_keys=None):
    """Evaluation returns per seed; keys ``fold_in(eval key of the seed, step)``."""
    eval_keys = self.eval_keys if eval_keys is None else eval_keys
    # On one device, as a single-device run evaluates (the networks are small).
    params = jax.device_put(state.params, jax.devices()[0])
    returns = np.asarray(self.evaluator(episodes, epsilon)(
        params, jax.vmap(jax.random.fold_in, (0, None))(eval_keys, step)))
    row = {"eval_return": returns.mean(-1).tolist(), "eval_return_mean": float(returns.mean())}
    result = {"env": self.config.env, "env_steps": step}
    if not self.sweep:
      return row, {**result, **evaluation_summary(returns, self.config.env)}
    configs = [{**combo, **evaluation_summary(r, self.config.env)}
               for (combo, _), r in zip(self.grid, self._per_config(returns))]
    row["eval_return_per_config"] = [c["return_mean"] for c in configs]
    best = max(range(len(configs)), key=lambda i: configs[i]["return_aggregate"]["iqm"])
    return row, {**result, "sweep": self.sweep_values, "configurations": configs,
                 "best_by_iqm": configs[best]}

  def curves(self, rows, path):
    if self.sweep:
      learning_curves(rows, path, f"{self.title}: {len(self.grid)} configurations x "
                      f"{self.settings.seeds} seeds", [sweeps.label(combo) for combo, _ in self.grid])
    else:
      learning_curves(rows, path, f"{self.title} ({self.settings.seeds} seeds)")


def pool_seed(seed: int, step: int) -> int:
  """envpool's seed for the pool that starts at ``step`` (its environments take seed + i)."""
  return int(np.random.SeedSequence([seed, step]).generate_state(1)[0] % 2**30)


def make_atari_chunk(iterations: int, pool: atari.Pool, xla: bool):
  """``chunk(state)`` for one Atari seed on ``pool`` (the state has no seed axis; the summary has
  one, of 1, as the rows expect): the XLA path, donating the state, or the host path."""
  if xla:
    act = functools.partial(dqn_atari.act_and_store_frames, pool.xla_step)

    def chunk(state):
      state, m = dqn.run(state, iterations, act)
      return state, dqn.summarize(_seed_axis(m))
    return jax.jit(chunk, donate_argnums=0)

  host_run = dqn_atari.make_host_run(pool.host_step)

  def host_chunk(state):
    state, m = host_run(state, iterations)
    return state, dqn.summarize(_seed_axis(m))
  return host_chunk


class AtariProgram(SeedsProgram):
  """One seed on an envpool pool, recreated at the start and after every checkpoint."""

  restarts = True
  async_checkpoints = False  # the 1M-frame replay is 7 GB: no second copy while it is written

  def __init__(self, settings: DQNSettings, config: DQNConfig, loop, out: str):
    super().__init__(settings, config, loop, out)
    self.seed, self.pool, self.checkpoint_every = loop.seed, None, loop.checkpoint_every
    self.xla = env_stepping(settings) == "xla"

  def _new_pool(self, step: int):
    self.close()
    self.pool = atari.Pool(self.config.env, self.config.num_envs, pool_seed(self.seed, step),
                           **self.config.pool_options)
    return self.pool.reset()

  def init(self):
    per_env = self.checkpoint_every // self.config.num_envs
    if per_env < atari.MNIH2015["max_episode_steps"]:
      print(f"jaxrl: each environment runs {per_env} steps between checkpoints, where the pool "
            f"restarts; games longer than that never finish (raise --checkpoint-every).",
            file=sys.stderr)
    start = self._new_pool(0)
    return jax.jit(lambda k, s: dqn.init(k, self.config, s))(self.train_keys[0], start)

  def template(self):
    spec = dqn.environment(self.config.env)
    n = self.config.num_envs
    start = (jax.ShapeDtypeStruct((n, *spec.observation_shape), jnp.uint8),
             jax.eval_shape(lambda: atari.blank_state(n)))
    return jax.eval_shape(lambda k, s: dqn.init(k, self.config, s), self.train_keys[0], start)

  def make_chunk(self, iterations: int):
    return make_atari_chunk(iterations, self.pool, self.xla)

  def restart(self, state, step: int):
    start = self._new_pool(step)
    return jax.jit(dqn_atari.restart_pool, donate_argnums=0)(state, start)

  def evaluator(self, episodes=None, epsilon=None):
    return make_evaluate(self.config, episodes, epsilon, self.xla)

  def close(self) -> None:
    if self.pool is not None:
      jax.effects_barrier()  # nothing may still be stepping the pool
      self.pool.close()
      self.pool = None


def _per_seed(rows: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
  """Rows that have ``key``: (their indices, values [rows, runs]), NaN where a run has none (a
  training return where the run finished no episode in the chunk)."""
  idx = [i for i, r in enumerate(rows) if key in r]
  if not idx:
    return np.zeros(0, int), np.zeros((0, 0))
  values = np.array([[np.nan if v is None else v for v in rows[i][key]] for i in idx], float)
  if key == "episode_return":
    values = np.where(np.array([rows[i]["episodes"] for i in idx]) > 0, values, np.nan)
  return np.array(idx, int), values.reshape(len(idx), -1)


def learning_curves(rows: list[dict], path: str, title: str = "", labels: list[str] | None = None
                    ) -> None:
  """The interquartile mean over seeds, with its 95% bootstrap band, of the training-episode and
  evaluation returns. One run: against environment steps and wall-clock seconds; a sweep
  (``labels``: its configurations): a panel for each, one line per configuration."""
  returns = {key: _per_seed(rows, key) for key in ("episode_return", "eval_return")}
  names = {"episode_return": "training episodes", "eval_return": "evaluation"}
  y = "episode return (IQM, 95% CI)"

  def x(key, x_key):
    return np.array([rows[i][x_key] for i in returns[key][0]])

  if labels is None:
    panels = [("", x_label, y,
               [([names[k]], x(k, x_key), v) for k, (i, v) in returns.items() if len(i)])
              for x_key, x_label in (("step", "environment steps"), ("seconds", "seconds"))]
  else:
    panels = [(names[k], "environment steps", y, [(labels, x(k, "step"), v)] if len(i) else [])
              for k, (i, v) in returns.items()]
  plots.banded_curves(panels, path, title)


# ---- the method -----------------------------------------------------------------------------------


def preset_for(env, settings: DQNSettings) -> str:
  """The preset of the environment's family: MinAtar, Atari (Nature), classic control (CleanRL)."""
  if settings.env in envs.MINATAR:
    return "minatar"
  return "nature" if atari.is_game(settings.env) else "cleanrl"


def configure(env, settings: DQNSettings, preset: str, overrides: dict, steps) -> DQNConfig:
  """The preset with the flags given; a sweep's first configuration in its swept fields."""
  sweep = parse_sweep(settings.sweep)
  sweeps.refuse_overrides(sweep, overrides)
  if steps is not None:
    overrides = {**overrides, "total_steps": steps}
  config = DQNConfig.preset(preset, settings.env, **overrides)
  return sweep_grid(config, sweep)[0][1]


def check(config: DQNConfig, env, settings: DQNSettings) -> None:
  check_environment(config, env)
  if config.atari and settings.sweep:
    raise ValueError("--sweep vmaps its runs, and an Atari run's envpool pool cannot be vmapped; "
                     "start one run per configuration.")
  sweep_grid(config, parse_sweep(settings.sweep))  # every configuration is a valid config
  if config.atari and settings.seeds != 1:
    raise ValueError(f"an Atari run trains one seed (envpool pools cannot be vmapped), got "
                     f"--seeds {settings.seeds}; start one run per seed with --seed.")
  if settings.devices > 1:
    runs_mesh(settings.devices)  # fails before any work when there are fewer devices
  if settings.env_stepping != "auto" and not config.atari:
    raise ValueError("--env-stepping applies to Atari (envpool) environments.")


def loop_defaults(config: DQNConfig, settings) -> dict:
  """Atari checkpoints every 1M steps: the 1M replay makes 7 GB checkpoints, and the pool
  restarts at each."""
  return {"steps": config.total_steps, "log_every": 10_000, "sample_every": 0, "eval_every": 50_000,
          "checkpoint_every": 1_000_000 if config.atari else 50_000, "keep_checkpoints": 2}


def resize(config: DQNConfig, steps: int) -> DQNConfig:
  """A resumed run extended to ``steps`` keeps the epsilon schedule it started with."""
  return dataclasses.replace(config, total_steps=steps, exploration_steps=config.epsilon_decay_steps)


def build(env, settings, config, loop, out) -> SeedsProgram:
  return (AtariProgram if config.atari else SeedsProgram)(settings, config, loop, out)


METHOD = Method(
    name="dqn", summary="DQN with experience replay and a target network (Mnih et al. 2013, 2015)",
    config=DQNConfig, settings=DQNSettings, load=lambda settings: dqn.environment(settings.env),
    presets=PRESETS, preset_for=preset_for, configure=configure, check=check, build=build,
    loop_defaults=loop_defaults, resize=resize, derived=("env", "total_steps"),
    aliases={"learning_rate": ("--lr",)}, default_out=lambda settings: f"runs/dqn-{settings.env}",
    examples=lambda: {"cleanrl": DQNConfig.cleanrl(), "minatar": DQNConfig.minatar(),
                      "nature": DQNConfig.nature("Pong-v5"),
                      "cleanrl-atari": DQNConfig.cleanrl_atari()})
