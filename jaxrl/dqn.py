"""Deep Q-learning with experience replay and a target network (Mnih et al. 2013, 2015).

    config = DQNConfig.cleanrl("CartPole-v1")
    train = make_train(config)                       # train(key) -> (state, metrics)
    state, metrics = jax.jit(train)(key)             # the whole run in one jitted lax.scan
    states, metrics = jax.jit(jax.vmap(train))(keys) # one run per seed, vmapped

The unit of the scan is one *iteration*: ``train_every`` environment steps (over ``num_envs``
parallel environments) with an epsilon-greedy policy, each transition added to the replay buffer,
then, once ``learning_starts`` environment steps are done, ``gradient_steps`` updates on uniform
minibatches and, on schedule, the target network update. For progress bars and checkpoints,
:func:`run` advances a state by any number of iterations; the key of iteration t is
``fold_in(state.key, t)``, so a run split into chunks (or killed and resumed from a checkpoint)
computes exactly what one uninterrupted scan computes.

Everything counts environment steps (``env_steps``: over all parallel environments), as CleanRL and
the MinAtar code do; the target network's period may instead count gradient updates
(``target_update_unit='updates'``: the Nature paper's table counts parameter updates).

Atari (envpool ids such as ``Pong-v5``) runs the same iteration with two differences: the
environments are an envpool pool stepped through its XLA interface (``act`` is
:func:`act_and_store_frames` bound to ``Pool.xla_step``; :func:`make_host_run` steps it from Python
instead), and the replay is a :class:`jaxrl.replay.FrameReplay` that stores each frame once. A pool
is not a pytree of arrays, so ``init`` takes its reset observations (``start``) and an Atari state
cannot be vmapped over seeds.
"""

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl import envs, nets, replay
from jaxrl.envs import atari

LOSSES = ("squared", "huber")
OPTIMIZERS = ("adam", "rmsprop")
PRESETS = ("cleanrl", "minatar", "nature", "cleanrl-atari")


@dataclasses.dataclass(frozen=True)
class DQNConfig:
  """DQN hyperparameters. Defaults are the ``cleanrl`` preset (CleanRL dqn_jax.py, CartPole)."""

  env: str = "CartPole-v1"
  total_steps: int = 500_000        # environment steps, all parallel environments together
  num_envs: int = 1
  network: str = "auto"             # auto: nature for 4x84x84 frames, minatar for other images, mlp
  hidden: tuple[int, ...] = (120, 84)  # mlp widths
  buffer_size: int = 10_000
  batch_size: int = 128
  gamma: float = 0.99
  loss: str = "squared"             # squared TD error | huber (the Nature paper's error clipping)
  double: bool = False              # Double DQN (van Hasselt et al. 2016) targets
  optimizer: str = "adam"
  learning_rate: float = 2.5e-4
  adam_eps: float = 1e-8
  rmsprop_decay: float = 0.95       # squared-gradient momentum
  rmsprop_eps: float = 0.01         # min squared gradient
  rmsprop_centered: bool = True
  rmsprop_eps_in_sqrt: bool = True  # DeepMind's RMSProp: sqrt(v - m^2 + eps); PyTorch: sqrt(...) + eps
  max_grad_norm: float | None = None
  train_every: int = 10             # environment steps between updates
  gradient_steps: int = 1           # updates each time
  learning_starts: int = 10_000     # environment steps before the first update
  target_update_every: int = 500
  target_update_unit: str = "steps"  # steps (environment steps) | updates (gradient updates)
  tau: float = 1.0                  # 1: hard copy; < 1: Polyak averaging at each target update
  epsilon_start: float = 1.0
  epsilon_end: float = 0.05
  exploration_fraction: float = 0.5  # of total_steps, unless exploration_steps is set
  exploration_steps: int | None = None
  eval_epsilon: float = 0.0         # greedy evaluation; 0.05 is the Atari convention
  eval_episodes: int = 10
  # Atari only (envpool options on top of jaxrl.envs.atari.MNIH2015):
  fire_reset: bool = False          # press FIRE after a reset (CleanRL's FireResetEnv; not in the paper)
  sticky_actions: float = 0.0       # repeat_action_probability (0: Mnih 2015; ALE v5 default 0.25)

  def __post_init__(self):
    _check(self)

  # ---- presets ----------------------------------------------------------------------------------

  @classmethod
  def cleanrl(cls, env: str = "CartPole-v1", **kw) -> "DQNConfig":
    """CleanRL dqn_jax.py defaults: Adam 2.5e-4, buffer 10k, batch 128, target copied every 500
    steps, an update every 10 steps, epsilon 1 -> 0.05 over half the run, learning starts at 10k,
    gamma 0.99, squared loss, 500k steps, Q-network 120-84."""
    return cls(env=env, **kw)

  @classmethod
  def minatar(cls, env: str = "Breakout-MinAtar", **kw) -> "DQNConfig":
    """Young & Tian 2019 (MinAtar examples/dqn.py): batch 32, buffer 100k, target every 1,000
    steps, an update every step, epsilon 1 -> 0.1 over the first 100k frames, replay start 5,000,
    gamma 0.99, Huber loss, PyTorch's centred RMSProp (lr 2.5e-4, alpha 0.95, eps 0.01 added
    outside the square root), 5M frames; the 16-channel conv + 128-unit Q-network."""
    base = dict(total_steps=5_000_000, buffer_size=100_000, batch_size=32, loss="huber",
                optimizer="rmsprop", learning_rate=2.5e-4, rmsprop_decay=0.95, rmsprop_eps=0.01,
                rmsprop_centered=True, rmsprop_eps_in_sqrt=False, train_every=1,
                learning_starts=5_000, target_update_every=1_000, epsilon_end=0.1,
                exploration_steps=100_000)
    return cls(env=env, **{**base, **kw})

  @classmethod
  def nature(cls, env: str = "Breakout-MinAtar", **kw) -> "DQNConfig":
    """Mnih et al. 2015, Extended Data Table 1: batch 32, replay memory 1M, target network updated
    every 10,000 parameter updates, an update every 4 actions, epsilon 1 -> 0.1 over the first 1M
    frames, replay start 50,000, gamma 0.99, the error clipped to [-1, 1] (Huber loss), centred
    RMSProp (lr 2.5e-4, decay 0.95, min squared gradient 0.01 inside the square root), evaluation
    at epsilon 0.05."""
    base = dict(total_steps=10_000_000, buffer_size=1_000_000, batch_size=32, loss="huber",
                optimizer="rmsprop", learning_rate=2.5e-4, rmsprop_decay=0.95, rmsprop_eps=0.01,
                rmsprop_centered=True, rmsprop_eps_in_sqrt=True, train_every=4,
                learning_starts=50_000, target_update_every=10_000, target_update_unit="updates",
                epsilon_end=0.1, exploration_steps=1_000_000, eval_epsilon=0.05)
    return cls(env=env, **{**base, **kw})

  @classmethod
  def cleanrl_atari(cls, env: str = "Breakout-v5", **kw) -> "DQNConfig":
    """CleanRL dqn_atari_jax.py defaults: Adam 1e-4, buffer 1M, batch 32, target copied every
    1,000 steps, an update every 4 steps, epsilon 1 -> 0.01 over the first 10% of 10M steps,
    learning starts at 80k, gamma 0.99, squared loss, the Nature CNN; its environment presses FIRE
    after resets (FireResetEnv) and has no sticky actions. Evaluation at epsilon 0.05."""
    base = dict(total_steps=10_000_000, buffer_size=1_000_000, batch_size=32, loss="squared",
                optimizer="adam", learning_rate=1e-4, train_every=4, learning_starts=80_000,
                target_update_every=1_000, epsilon_end=0.01, exploration_fraction=0.1,
                eval_epsilon=0.05, fire_reset=True)
    return cls(env=env, **{**base, **kw})

  @classmethod
  def preset(cls, name: str, env: str, **kw) -> "DQNConfig":
    if name not in PRESETS:
      raise ValueError(f"unknown preset {name!r}; choose one of {PRESETS}.")
    return getattr(cls, name.replace("-", "_"))(env, **kw)

  # ---- derived quantities -----------------------------------------------------------------------

  @property
  def atari(self) -> bool:
    return atari.is_game(self.env)

  @property
  def pool_options(self) -> dict:
    """envpool options of the training environments, on top of atari.MNIH2015."""
    return {"use_fire_reset": self.fire_reset, "repeat_action_probability": self.sticky_actions}

  @property
  def steps_per_env(self) -> int:
    """Vector-environment steps per iteration."""
    return self.train_every // self.num_envs

  @property
  def num_iterations(self) -> int:
    return self.total_steps // self.train_every

  @property
  def epsilon_decay_steps(self) -> int:
    if self.exploration_steps is not None:
      return self.exploration_steps
    return int(self.exploration_fraction * self.total_steps)


def _check(c: DQNConfig) -> None:
  def fail(msg):
    raise ValueError(msg)

  for name in ("total_steps", "num_envs", "buffer_size", "batch_size", "train_every",
               "gradient_steps", "target_update_every", "eval_episodes"):
    if getattr(c, name) < 1:
      fail(f"{name} must be >= 1, got {getattr(c, name)}.")
  for name in ("epsilon_start", "epsilon_end", "eval_epsilon", "exploration_fraction"):
    if not 0.0 <= getattr(c, name) <= 1.0:
      fail(f"{name} must lie in [0, 1], got {getattr(c, name)}.")
  if not 0.0 <= c.gamma <= 1.0:
    fail(f"gamma must lie in [0, 1], got {c.gamma}.")
  if not 0.0 < c.tau <= 1.0:
    fail(f"tau must lie in (0, 1] (1 = hard target copy), got {c.tau}.")
  if not 0.0 <= c.sticky_actions <= 1.0:
    fail(f"sticky_actions must lie in [0, 1], got {c.sticky_actions}.")
  if c.learning_rate <= 0:
    fail(f"learning_rate must be > 0, got {c.learning_rate}.")
  if c.batch_size > c.buffer_size:
    fail(f"batch size {c.batch_size} is larger than the replay buffer ({c.buffer_size}); lower "
         "--batch-size or raise --buffer-size.")
  if c.num_envs > c.buffer_size:
    fail(f"{c.num_envs} parallel environments add more transitions per step than the buffer "
         f"holds ({c.buffer_size}).")
  if c.learning_starts < c.batch_size:
    fail(f"learning_starts ({c.learning_starts}) must be >= the batch size ({c.batch_size}): the "
         "first update samples a full batch from the buffer.")
  if c.train_every % c.num_envs:
    fail(f"train_every ({c.train_every} environment steps) must be a multiple of num_envs "
         f"({c.num_envs}): each iteration steps every environment train_every / num_envs times.")
  if c.total_steps < c.train_every:
    fail(f"total_steps ({c.total_steps}) is less than one iteration (train_every = {c.train_every}).")
  if c.learning_starts >= c.total_steps:
    fail(f"learning_starts ({c.learning_starts}) must be below total_steps ({c.total_steps}), or "
         "nothing is learned.")
  if c.exploration_steps is not None and c.exploration_steps < 0:
    fail(f"exploration_steps must be >= 0, got {c.exploration_steps}.")
  if c.loss not in LOSSES:
    fail(f"unknown loss {c.loss!r}; choose one of {LOSSES}.")
  if c.optimizer not in OPTIMIZERS:
    fail(f"unknown optimizer {c.optimizer!r}; choose one of {OPTIMIZERS}.")
  if c.target_update_unit not in ("steps", "updates"):
    fail(f"target_update_unit must be 'steps' or 'updates', got {c.target_update_unit!r}.")
  if c.network not in ("auto", *nets.NETWORKS):
    fail(f"unknown network {c.network!r}; choose auto or one of {nets.NETWORKS}.")
  if not c.atari and (c.fire_reset or c.sticky_actions):
    fail(f"fire_reset and sticky_actions are Atari (envpool) options; {c.env} is a gymnax "
         "environment.")
  if c.atari and c.buffer_size % c.num_envs:
    fail(f"the Atari replay stores {c.num_envs} environments' frames side by side: buffer_size "
         f"({c.buffer_size}) must be a multiple of num_envs.")
  env = environment(c.env)  # an unknown name fails here with the list of names that work
  env.num_actions  # a non-discrete action space fails here
  if network_kind(c, env) == "minatar" and env.observation_shape[:2] != (10, 10):
    fail(f"the MinAtar Q-network takes 10x10xC observations; {c.env} gives {env.observation_shape}.")
  if network_kind(c, env) == "nature" and env.observation_shape != (4, 84, 84):
    fail(f"the Nature Q-network takes 4x84x84 frame stacks; {c.env} gives {env.observation_shape}.")


# ---- pieces -------------------------------------------------------------------------------------


@functools.cache
def environment(name: str) -> envs.Environment | atari.AtariSpec:
  """The gymnax environment ``name``, or the description of the Atari game ``name``."""
  return atari.spec(name) if atari.is_game(name) else envs.make(name)


def network_kind(config: DQNConfig, env) -> str:
  if config.network != "auto":
    return config.network
  if tuple(env.observation_shape) == (4, 84, 84):
    return "nature"
  return "minatar" if len(env.observation_shape) == 3 else "mlp"


def q_network(config: DQNConfig):
  env = environment(config.env)
  return nets.q_network(network_kind(config, env), env.num_actions, config.hidden)


def optimizer(config: DQNConfig) -> optax.GradientTransformation:
  if config.optimizer == "adam":
    tx = optax.adam(config.learning_rate, eps=config.adam_eps)
  else:
    tx = optax.rmsprop(config.learning_rate, decay=config.rmsprop_decay, eps=config.rmsprop_eps,
                       centered=config.rmsprop_centered, eps_in_sqrt=config.rmsprop_eps_in_sqrt)
  if config.max_grad_norm is not None:
    tx = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), tx)
  return tx


def epsilon(config: DQNConfig, env_steps) -> jax.Array:
  """Linear from epsilon_start to epsilon_end over the first ``epsilon_decay_steps`` environment
  steps, then constant."""
  decay = config.epsilon_decay_steps
  frac = jnp.clip(env_steps / decay, 0.0, 1.0) if decay > 0 else 1.0
  return config.epsilon_start + frac * (config.epsilon_end - config.epsilon_start)


def exploration_noise(key, shape: tuple[int, ...], num_actions: int) -> dict:
  """The randomness of epsilon-greedy for ``shape`` decisions, drawn at once: on CPU every
  threefry call is a small XLA loop, so one draw per iteration instead of one per step is
  measurably faster."""
  k_explore, k_action = jax.random.split(key)
  return {"uniform": jax.random.uniform(k_explore, shape),
          "random_action": jax.random.randint(k_action, shape, 0, num_actions)}


def epsilon_greedy_with(noise: dict, q_values: jax.Array, eps) -> jax.Array:
  """Epsilon-greedy given its :func:`exploration_noise`: the noise's random action where its
  uniform draw is below ``eps``, else the argmax of ``q_values``."""
  explore = noise["uniform"] < eps
  return jnp.where(explore, noise["random_action"], jnp.argmax(q_values, -1)).astype(jnp.int32)


def epsilon_greedy(key, q_values: jax.Array, eps) -> jax.Array:
  """One action per row of ``q_values``: uniform with probability ``eps``, else the argmax."""
  n, num_actions = q_values.shape
  return epsilon_greedy_with(exploration_noise(key, (n,), num_actions), q_values, eps)


def td_target(reward, terminated, next_q_target, gamma: float, next_q_online=None) -> jax.Array:
  """r + gamma * (1 - terminated) * max_a Q_target(s', a) (Double DQN: Q_target(s', argmax_a
  Q_online(s', a))). Truncation is not termination: a time-limited transition bootstraps."""
  if next_q_online is None:
    next_value = jnp.max(next_q_target, -1)
  else:
    best = jnp.argmax(next_q_online, -1)
    next_value = jnp.take_along_axis(next_q_target, best[:, None], -1)[:, 0]
  return reward + gamma * (1.0 - terminated.astype(reward.dtype)) * next_value


def td_loss(q_values, actions, targets, kind: str) -> jax.Array:
  """Mean over the batch of the squared TD error, or the Huber loss (delta 1: the gradient of the
  error clipped to [-1, 1], as in Mnih et al. 2015)."""
  q_taken = jnp.take_along_axis(q_values, actions[:, None].astype(jnp.int32), -1)[:, 0]
  error = q_taken - jax.lax.stop_gradient(targets)
  if kind == "huber":
    return jnp.mean(optax.huber_loss(error, delta=1.0))
  return jnp.mean(jnp.square(error))


# ---- state --------------------------------------------------------------------------------------


@struct.dataclass
class DQNState:
  params: Any
  target_params: Any
  opt_state: Any
  buffer: Any              # replay.ReplayBuffer; Atari: replay.FrameReplay
  env_state: Any           # [num_envs] environment states; Atari: an atari.PoolState
  obs: jax.Array           # [num_envs, ...] current observations
  env_steps: jax.Array     # environment steps done (all environments)
  updates: jax.Array       # gradient updates done
  iteration: jax.Array
  key: jax.Array           # the run's raw (uint32) key; iteration t uses fold_in(key, t)
  config: DQNConfig = struct.field(pytree_node=False)


def _transition_example(env: envs.Environment) -> dict:
  obs = jnp.zeros(env.observation_shape, env.storage_dtype)
  return {"obs": obs, "action": jnp.zeros((), jnp.int32), "reward": jnp.zeros((), jnp.float32),
          "next_obs": obs, "terminated": jnp.zeros((), bool), "truncated": jnp.zeros((), bool)}


def init(key, config: DQNConfig, start: tuple | None = None) -> DQNState:
  """Fresh Q-network (and its target copy), optimiser, empty buffer and reset environments.
  ``key``: a ``jax.random.key`` (threefry) or a legacy uint32 ``PRNGKey``. ``start``: (obs,
  env_state) of environments reset elsewhere; required for Atari (``Pool.reset()``), where the
  buffer is a frame replay."""
  if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    key = jax.random.wrap_key_data(key)
  k_net, k_env, k_run = jax.random.split(key, 3)
  env = environment(config.env)
  net = q_network(config)
  if config.atari:
    if start is None:
      raise ValueError("an Atari DQN state starts from a reset envpool pool: pass "
                       "start=atari.Pool(...).reset().")
    obs, env_state = start
    buffer = replay.init_frames(config.buffer_size, jnp.zeros(env.observation_shape[1:], jnp.uint8),
                                config.num_envs, env.observation_shape[0], min_size=config.batch_size)
  else:
    obs, env_state = start or jax.vmap(env.reset)(jax.random.split(k_env, config.num_envs))
    buffer = replay.init(config.buffer_size, _transition_example(env), min_size=config.batch_size)
  params = net.init(k_net, obs)
  zero = jnp.zeros((), jnp.int32)
  return DQNState(params=params, target_params=params, opt_state=optimizer(config).init(params),
                  buffer=buffer, env_state=env_state, obs=obs, env_steps=zero, updates=zero,
                  iteration=zero, key=jax.random.key_data(k_run), config=config)


# ---- one iteration ------------------------------------------------------------------------------


def policy(state: DQNState, noise: dict) -> jax.Array:
  """The epsilon-greedy actions for ``state.obs`` (``noise``: one step of :func:`acting_noise`)."""
  q = q_network(state.config).apply(state.params, state.obs)
  return epsilon_greedy_with(noise, q, epsilon(state.config, state.env_steps))


def act_and_store(state: DQNState, noise: dict) -> tuple[DQNState, dict]:
  """One step of every environment with the epsilon-greedy policy (``noise``: its
  :func:`exploration_noise` and one environment key per environment); the transitions go to the
  buffer, with the pre-reset observation as next_obs where an episode ended."""
  c = state.config
  env = environment(c.env)
  actions = policy(state, noise)
  obs, env_state, reward, terminated, truncated, info = jax.vmap(env.step)(
      noise["env_key"], state.env_state, actions)
  buffer = replay.add(state.buffer, {
      "obs": state.obs, "action": actions, "reward": reward, "next_obs": info["final_observation"],
      "terminated": terminated, "truncated": truncated})
  done = terminated | truncated
  stats = {"episodes": jnp.sum(done, dtype=jnp.int32),
           "return_sum": jnp.sum(jnp.where(done, info["episode_return"], 0.0)),
           "length_sum": jnp.sum(jnp.where(done, info["episode_length"], 0))}
  state = state.replace(buffer=buffer, env_state=env_state, obs=obs,
                        env_steps=state.env_steps + c.num_envs)
  return state, stats


def act_and_store_frames(env_step, state: DQNState, noise: dict) -> tuple[DQNState, dict]:
  """:func:`act_and_store` for an envpool pool: ``env_step(pool_state, actions) -> (pool_state,
  result)`` (``Pool.xla_step``). Each environment's record (the newest frame of the observation
  acted on, the action and its outcome) goes to the frame replay; the step that is envpool's
  reset is stored as invalid, so the terminal -> reset pair is never learned from. Episode
  statistics are whole games with raw scores."""
  actions = policy(state, noise)
  pool_state, result = env_step(state.env_state, actions)
  return store_frames(state.replace(env_state=pool_state), actions, result)


def store_frames(state: DQNState, actions: jax.Array, result: dict) -> tuple[DQNState, dict]:
  """The bookkeeping half of :func:`act_and_store_frames` (the host path calls it on its own)."""
  ps = state.env_state
  buffer = replay.add_frames(state.buffer, {
      "frame": state.obs[:, -1], "action": actions, "reward": result["reward"],
      "terminated": result["terminated"], "truncated": result["truncated"], "first": ps.first,
      "valid": ~ps.resetting})
  ps, game = atari.advance(ps, result)
  over = game["game_over"]
  stats = {"episodes": jnp.sum(over, dtype=jnp.int32),
           "return_sum": jnp.sum(jnp.where(over, game["game_return"], 0.0)),
           "length_sum": jnp.sum(jnp.where(over, game["game_length"], 0))}
  state = state.replace(buffer=buffer, env_state=ps, obs=result["obs"],
                        env_steps=state.env_steps + state.config.num_envs)
  return state, stats


def restart_pool(state: DQNState, start: tuple) -> DQNState:
  """Continues an Atari state on a freshly reset pool (``start = pool.reset()``): one last,
  invalid record keeps the frame that the last stored transition needs as its next observation;
  the new pool's first observations start fresh episodes."""
  ps = state.env_state
  n = state.config.num_envs
  buffer = replay.add_frames(state.buffer, {
      "frame": state.obs[:, -1], "action": jnp.zeros(n, jnp.int32),
      "reward": jnp.zeros(n, jnp.float32), "terminated": jnp.zeros(n, bool),
      "truncated": jnp.zeros(n, bool), "first": ps.first, "valid": jnp.zeros(n, bool)})
  obs, pool_state = start
  return state.replace(buffer=buffer, obs=obs, env_state=pool_state)


def acting_noise(key, config: DQNConfig, steps: int) -> dict:
  """Everything random in ``steps`` steps of the environments, drawn at once ([steps, num_envs]):
  the exploration noise and, for gymnax, the environments' keys (envpool has its own RNG)."""
  k_policy, k_env = jax.random.split(key)
  shape = (steps, config.num_envs)
  noise = exploration_noise(k_policy, shape, environment(config.env).num_actions)
  if not config.atari:
    noise["env_key"] = jax.random.split(k_env, shape)
  return noise


def loss_fn(params, target_params, batch: dict, config: DQNConfig):
  """The DQN loss on a replay minibatch; returns (loss, mean Q of the actions taken)."""
  net = q_network(config)
  q = net.apply(params, batch["obs"])
  next_q_target = net.apply(target_params, batch["next_obs"])
  next_q_online = net.apply(params, batch["next_obs"]) if config.double else None
  targets = td_target(batch["reward"], batch["terminated"], next_q_target, config.gamma,
                      next_q_online)
  loss = td_loss(q, batch["action"], targets, config.loss)
  return loss, jnp.mean(jnp.take_along_axis(q, batch["action"][:, None], -1))


def update(state: DQNState, key) -> tuple[DQNState, dict]:
  """One gradient step on a uniform minibatch from the buffer."""
  c = state.config
  batch = replay.sample(state.buffer, key, c.batch_size)  # a frame replay rebuilds the stacks
  (loss, q), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state.params, state.target_params, batch, c)
  updates, opt_state = optimizer(c).update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  state = state.replace(params=params, opt_state=opt_state, updates=state.updates + 1)
  return state, {"loss": loss, "q": q}


def _crossed(counter, increment, period):
  """Whether ``counter`` passed a multiple of ``period`` in its last ``increment``."""
  return counter // period > (counter - increment) // period


def update_target(state: DQNState, env_steps_before, updates_before) -> DQNState:
  """The target network: copied (tau = 1) or Polyak-averaged once when its period (in environment
  steps or in updates) elapsed since the counters were ``env_steps_before`` and
  ``updates_before`` (once even if several periods did, which only matters for tau < 1 with a
  period shorter than an iteration)."""
  c = state.config
  if c.target_update_unit == "steps":
    due = _crossed(state.env_steps, state.env_steps - env_steps_before, c.target_update_every)
  else:
    due = _crossed(state.updates, state.updates - updates_before, c.target_update_every)
  new_target = optax.incremental_update(state.params, state.target_params, c.tau)
  target = jax.tree.map(lambda n, o: jnp.where(due, n, o), new_target, state.target_params)
  return state.replace(target_params=target)


def iteration_keys(state: DQNState) -> tuple[jax.Array, jax.Array]:
  """(acting key, learning key) of the state's current iteration."""
  key = jax.random.fold_in(jax.random.wrap_key_data(state.key), state.iteration)
  k_act, k_learn = jax.random.split(key)
  return k_act, k_learn


def learn(state: DQNState, key, stats: dict, env_steps_before, updates_before
          ) -> tuple[DQNState, dict]:
  """The second half of an iteration: after learning starts, ``gradient_steps`` updates and the
  target network's update when it is due; then the iteration's metrics (``stats``: the acting
  statistics summed over its steps)."""
  c = state.config

  def learning_phase(s):
    s, m = jax.lax.scan(update, s, jax.random.split(key, c.gradient_steps))
    return update_target(s, env_steps_before, updates_before), jax.tree.map(jnp.mean, m)

  def wait(s):
    return s, {"loss": jnp.zeros(()), "q": jnp.zeros(())}

  learning = (state.env_steps >= c.learning_starts) & replay.can_sample(state.buffer)
  state, m = jax.lax.cond(learning, learning_phase, wait, state)
  metrics = {**stats, **m, "learning": learning, "epsilon": epsilon(c, state.env_steps)}
  return state.replace(iteration=state.iteration + 1), metrics


def iteration(state: DQNState, act=act_and_store) -> tuple[DQNState, dict]:
  """``train_every`` environment steps with ``act`` (:func:`act_and_store`, or for Atari
  :func:`act_and_store_frames` bound to a pool's step), then :func:`learn`."""
  c = state.config
  k_act, k_learn = iteration_keys(state)
  env_steps, updates = state.env_steps, state.updates
  state, stats = jax.lax.scan(act, state, acting_noise(k_act, c, c.steps_per_env))
  return learn(state, k_learn, jax.tree.map(jnp.sum, stats), env_steps, updates)


def run(state: DQNState, num_iterations: int, act=act_and_store) -> tuple[DQNState, dict]:
  """``num_iterations`` iterations in one ``lax.scan``; metrics stacked per iteration."""
  return jax.lax.scan(lambda s, _: iteration(s, act), state, None, length=num_iterations)


def make_host_run(host_step):
  """:func:`run` for Atari with the environments stepped from Python (``host_step``:
  ``Pool.host_step``): the host path, for comparison, debugging and TPU hosts (envpool has no
  XLA target there). The same pure functions, jitted piecewise, with the state donated so that a
  large replay is updated in place; it computes what the XLA path computes up to floating-point
  rounding (XLA may fuse the two differently; on this project's CPU tests they agree bitwise)."""
  noise_fn = jax.jit(acting_noise, static_argnums=(1, 2))
  policy_fn = jax.jit(policy)
  store_fn = jax.jit(store_frames, donate_argnums=0)
  learn_fn = jax.jit(learn, donate_argnums=0)

  def host_run(state: DQNState, num_iterations: int) -> tuple[DQNState, dict]:
    c, metrics = state.config, []
    for _ in range(num_iterations):
      k_act, k_learn = iteration_keys(state)
      noise = noise_fn(k_act, c, c.steps_per_env)
      # Host copies of the counters: the state's own arrays are donated below.
      env_steps, updates, stats = int(state.env_steps), int(state.updates), []
      for i in range(c.steps_per_env):
        actions = policy_fn(state, jax.tree.map(lambda x: x[i], noise))
        pool_state, result = host_step(state.env_state, actions)
        state, s = store_fn(state.replace(env_state=pool_state), actions, result)
        stats.append(s)
      stats = jax.tree.map(lambda *x: sum(x), *stats)
      state, m = learn_fn(state, k_learn, stats, env_steps, updates)
      metrics.append(m)
    return state, jax.tree.map(lambda *x: jnp.stack(x), *metrics)

  return host_run


def make_train(config: DQNConfig):
  """``train(key) -> (state, metrics)``: the whole run (config.num_iterations iterations) as one
  pure function, to be jitted and vmapped over seeds."""

  def train(key):
    return run(init(key, config), config.num_iterations)

  return train


# ---- evaluation ---------------------------------------------------------------------------------


def evaluate(params, config: DQNConfig, key, episodes: int | None = None,
             eval_epsilon: float | None = None) -> dict:
  """Returns of ``episodes`` episodes (default config.eval_episodes) in a fresh pool of
  environments, one episode each, acting epsilon-greedily with ``eval_epsilon`` (default
  config.eval_epsilon; 0 = greedy). Pure: jit and vmap over params and keys."""
  env, net = environment(config.env), q_network(config)
  n = config.eval_episodes if episodes is None else episodes
  eps = config.eval_epsilon if eval_epsilon is None else eval_epsilon
  k_reset, k_run = jax.random.split(key)
  obs, env_state = jax.vmap(env.reset)(jax.random.split(k_reset, n))

  def step(carry, k):
    obs, env_state, returns, lengths, finished = carry
    k_act, k_env = jax.random.split(k)
    actions = epsilon_greedy(k_act, net.apply(params, obs), eps)
    obs, env_state, _, terminated, truncated, info = jax.vmap(env.step)(
        jax.random.split(k_env, n), env_state, actions)
    done = (terminated | truncated) & ~finished
    returns = jnp.where(done, info["episode_return"], returns)
    lengths = jnp.where(done, info["episode_length"], lengths)
    return (obs, env_state, returns, lengths, finished | done), None

  init_carry = (obs, env_state, jnp.zeros(n), jnp.zeros(n, jnp.int32), jnp.zeros(n, bool))
  # Every episode ends within the time limit, so max_episode_steps steps finish them all.
  (_, _, returns, lengths, finished), _ = jax.lax.scan(
      step, init_carry, jax.random.split(k_run, env.max_episode_steps))
  return {"returns": returns, "lengths": lengths, "finished": finished}


def evaluate_atari(params, config: DQNConfig, key, episodes: int | None = None,
                   eval_epsilon: float | None = None, xla: bool = True) -> dict:
  """:func:`evaluate` for Atari: ``episodes`` whole games (no episodic life) with raw scores (no
  reward clipping) in a fresh pool seeded from ``key``, acting epsilon-greedily with
  ``eval_epsilon`` (default config.eval_epsilon: 0.05 in the Atari presets). Creates a pool, so it
  is not jittable itself; the games run in one jitted while loop (``xla``; compiled anew for each
  pool, since envpool's handle is part of the compiled call) or from Python."""
  n = config.eval_episodes if episodes is None else episodes
  eps = config.eval_epsilon if eval_epsilon is None else eval_epsilon
  k_pool, k_act = jax.random.split(key)
  seed = int(jax.random.randint(k_pool, (), 0, 2**31 - 1 - n))
  pool = atari.Pool(config.env, n, seed, **{**config.pool_options, "episodic_life": False,
                                             "reward_clip": False})
  net, num_actions = q_network(config), environment(config.env).num_actions
  limit = environment(config.env).max_episode_steps + 2  # every game is over by then

  def act(params, obs, t):
    noise = exploration_noise(jax.random.fold_in(k_act, t), (n,), num_actions)
    return epsilon_greedy_with(noise, net.apply(params, obs), eps)

  def record(carry, pool_state, result):
    _, _, returns, lengths, finished, t = carry
    pool_state, game = atari.advance(pool_state, result)
    over = game["game_over"] & ~finished
    return (result["obs"], pool_state, jnp.where(over, game["game_return"], returns),
            jnp.where(over, game["game_length"], lengths), finished | over, t + 1)

  def running(carry):
    return ~jnp.all(carry[4]) & (carry[5] < limit)

  def play(params, carry):
    def body(carry):
      obs, pool_state, *_ = carry
      pool_state, result = pool.xla_step(pool_state, act(params, obs, carry[5]))
      return record(carry, pool_state, result)
    return jax.lax.while_loop(running, body, carry)

  obs, pool_state = pool.reset()
  carry = (obs, pool_state, jnp.zeros(n), jnp.zeros(n, jnp.int32), jnp.zeros(n, bool), 0)
  try:
    if xla:  # params are an argument, not constants baked into the compiled loop
      carry = jax.jit(play)(params, carry)
    else:
      act_fn, record_fn = jax.jit(act), jax.jit(record)
      while running(carry):
        pool_state, result = pool.host_step(carry[1], act_fn(params, carry[0], carry[5]))
        carry = record_fn(carry, pool_state, result)
    carry = jax.block_until_ready(carry)
  finally:
    jax.effects_barrier()  # the pool must outlive every computation that steps it
    pool.close()
  return {"returns": carry[2], "lengths": carry[3], "finished": carry[4]}


def summarize(metrics: dict) -> dict:
  """Metrics of :func:`run` ([..., iterations]: the iteration axis last, seeds before it) reduced
  over the iterations: the episodes finished and their mean return and length, the mean loss and
  Q over the learning iterations, the last epsilon."""
  episodes = jnp.sum(metrics["episodes"], -1)
  learning = metrics["learning"]
  n_learn = jnp.maximum(jnp.sum(learning, -1), 1)
  return {
      "episodes": episodes,
      "episode_return": jnp.sum(metrics["return_sum"], -1) / jnp.maximum(episodes, 1),
      "episode_length": jnp.sum(metrics["length_sum"], -1) / jnp.maximum(episodes, 1),
      "loss": jnp.sum(jnp.where(learning, metrics["loss"], 0.0), -1) / n_learn,
      "q": jnp.sum(jnp.where(learning, metrics["q"], 0.0), -1) / n_learn,
      "epsilon": metrics["epsilon"][..., -1],
  }

