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
"""

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl import envs, nets, replay

LOSSES = ("squared", "huber")
OPTIMIZERS = ("adam", "rmsprop")
PRESETS = ("cleanrl", "minatar", "nature")


@dataclasses.dataclass(frozen=True)
class DQNConfig:
  """DQN hyperparameters. Defaults are the ``cleanrl`` preset (CleanRL dqn_jax.py, CartPole)."""

  env: str = "CartPole-v1"
  total_steps: int = 500_000        # environment steps, all parallel environments together
  num_envs: int = 1
  network: str = "auto"             # auto: minatar for image observations, mlp otherwise
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
  def preset(cls, name: str, env: str, **kw) -> "DQNConfig":
    if name not in PRESETS:
      raise ValueError(f"unknown preset {name!r}; choose one of {PRESETS}.")
    return getattr(cls, name)(env, **kw)

  # ---- derived quantities -----------------------------------------------------------------------

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
  env = environment(c.env)  # an unknown name fails here with the list of names that work
  env.num_actions  # a non-discrete action space fails here
  if network_kind(c, env) == "minatar" and env.observation_shape[:2] != (10, 10):
    fail(f"the MinAtar Q-network takes 10x10xC observations; {c.env} gives {env.observation_shape}.")
  if network_kind(c, env) == "nature" and env.observation_shape != (4, 84, 84):
    fail(f"the Nature Q-network takes 4x84x84 frame stacks; {c.env} gives {env.observation_shape}.")


# ---- pieces -------------------------------------------------------------------------------------


@functools.cache
def environment(name: str) -> envs.Environment:
  return envs.make(name)


def network_kind(config: DQNConfig, env: envs.Environment) -> str:
  if config.network != "auto":
    return config.network
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
  buffer: replay.ReplayBuffer
  env_state: Any           # [num_envs] environment states
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


def init(key, config: DQNConfig) -> DQNState:
  """Fresh Q-network (and its target copy), optimiser, empty buffer and reset environments.
  ``key``: a ``jax.random.key`` (threefry) or a legacy uint32 ``PRNGKey``."""
  if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    key = jax.random.wrap_key_data(key)
  k_net, k_env, k_run = jax.random.split(key, 3)
  env = environment(config.env)
  net = q_network(config)
  obs, env_state = jax.vmap(env.reset)(jax.random.split(k_env, config.num_envs))
  params = net.init(k_net, obs)
  buffer = replay.init(config.buffer_size, _transition_example(env), min_size=config.batch_size)
  zero = jnp.zeros((), jnp.int32)
  return DQNState(params=params, target_params=params, opt_state=optimizer(config).init(params),
                  buffer=buffer, env_state=env_state, obs=obs, env_steps=zero, updates=zero,
                  iteration=zero, key=jax.random.key_data(k_run), config=config)


# ---- one iteration ------------------------------------------------------------------------------


def act_and_store(state: DQNState, noise: dict) -> tuple[DQNState, dict]:
  """One step of every environment with the epsilon-greedy policy (``noise``: its
  :func:`exploration_noise` and one environment key per environment); the transitions go to the
  buffer, with the pre-reset observation as next_obs where an episode ended."""
  c = state.config
  env, net = environment(c.env), q_network(c)
  actions = epsilon_greedy_with(noise, net.apply(state.params, state.obs), epsilon(c, state.env_steps))
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


def acting_noise(key, config: DQNConfig, steps: int) -> dict:
  """Everything random in ``steps`` steps of the environments, drawn at once ([steps, num_envs])."""
  k_policy, k_env = jax.random.split(key)
  shape = (steps, config.num_envs)
  noise = exploration_noise(k_policy, shape, environment(config.env).num_actions)
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
  batch = replay.sample(state.buffer, key, c.batch_size)
  (loss, q), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state.params, state.target_params, batch, c)
  updates, opt_state = optimizer(c).update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  state = state.replace(params=params, opt_state=opt_state, updates=state.updates + 1)
  return state, {"loss": loss, "q": q}


def _crossed(counter, increment, period):
  """Whether ``counter`` passed a multiple of ``period`` in its last ``increment``."""
  return counter // period > (counter - increment) // period


def update_target(state: DQNState, before: DQNState) -> DQNState:
  """The target network: copied (tau = 1) or Polyak-averaged once when its period (in environment
  steps or in updates) elapsed between ``before`` and ``state`` (once even if several periods did,
  which only matters for tau < 1 with a period shorter than an iteration)."""
  c = state.config
  if c.target_update_unit == "steps":
    due = _crossed(state.env_steps, state.env_steps - before.env_steps, c.target_update_every)
  else:
    due = _crossed(state.updates, state.updates - before.updates, c.target_update_every)
  new_target = optax.incremental_update(state.params, state.target_params, c.tau)
  target = jax.tree.map(lambda n, o: jnp.where(due, n, o), new_target, state.target_params)
  return state.replace(target_params=target)


def iteration(state: DQNState) -> tuple[DQNState, dict]:
  """``train_every`` environment steps, then (after learning starts) ``gradient_steps`` updates
  and the target network's update when it is due."""
  c = state.config
  key = jax.random.fold_in(jax.random.wrap_key_data(state.key), state.iteration)
  k_act, k_learn = jax.random.split(key)
  before = state

  state, stats = jax.lax.scan(act_and_store, state, acting_noise(k_act, c, c.steps_per_env))
  stats = jax.tree.map(jnp.sum, stats)

  def learn(s):
    s, m = jax.lax.scan(update, s, jax.random.split(k_learn, c.gradient_steps))
    return update_target(s, before), jax.tree.map(jnp.mean, m)

  def wait(s):
    return s, {"loss": jnp.zeros(()), "q": jnp.zeros(())}

  learning = (state.env_steps >= c.learning_starts) & replay.can_sample(state.buffer)
  state, m = jax.lax.cond(learning, learn, wait, state)
  metrics = {**stats, **m, "learning": learning, "epsilon": epsilon(c, state.env_steps)}
  return state.replace(iteration=state.iteration + 1), metrics


def run(state: DQNState, num_iterations: int) -> tuple[DQNState, dict]:
  """``num_iterations`` iterations in one ``lax.scan``; metrics stacked per iteration."""
  return jax.lax.scan(lambda s, _: iteration(s), state, None, length=num_iterations)


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

