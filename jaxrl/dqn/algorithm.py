"""Deep Q-learning with experience replay and a target network: Algorithm 1 of Mnih et al. 2015
("deep Q-learning with experience replay"), top to bottom.

    config = DQNConfig.cleanrl("CartPole-v1")
    train = make_train(config)                       # train(key) -> (state, metrics)
    state, metrics = jax.jit(train)(key)             # the whole run in one jitted lax.scan
    states, metrics = jax.jit(jax.vmap(train))(keys) # one run per seed, vmapped

Algorithm 1, and where each line is here:
  Initialize replay memory D to capacity N;                      init (replay.init)
  initialize Q with random weights theta, target Q^ with theta- = theta   init
  for each step: with probability epsilon a random action,
    otherwise argmax_a Q(phi_t, a; theta)                        epsilon, epsilon_greedy, policy
  execute it, observe the reward and the next observation;
    store the transition in D                                    act_and_store
  sample a random minibatch of transitions from D                update (replay.sample)
  y_j = r_j (terminal) or r_j + gamma max_a' Q^(phi_j+1, a'; theta-)   td_target
  a gradient step on (y_j - Q(phi_j, a_j; theta))^2 (error clipped)    td_loss, loss_fn, update
  every C steps reset Q^ = Q                                     update_target
The unit of the scan is one *iteration* (:func:`iteration`): ``train_every`` environment steps
(over ``num_envs`` parallel environments), then, once ``learning_starts`` environment steps are
done, ``gradient_steps`` updates and, on schedule, the target network update (:func:`learn`).
:func:`run` advances a state by any number of iterations; the key of iteration t is
``fold_in(state.key, t)``, so a run split into chunks (or killed and resumed from a checkpoint)
computes exactly what one uninterrupted scan computes.

Everything counts environment steps (``env_steps``: over all parallel environments), as CleanRL and
the MinAtar code do; the target network's period may instead count gradient updates
(``target_update_unit='updates'``: the Nature paper's table counts parameter updates). Atari
(envpool) runs the same iteration with another acting step and replay: :mod:`jaxrl.dqn.atari`.
"""

import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl import envs, nets, replay
from jaxrl.dqn.config import DQNConfig, check_environment, network_kind
from jaxrl.envs import atari


# ---- the agent's pieces --------------------------------------------------------------------------


@functools.cache
def environment(name: str) -> envs.Environment | atari.AtariSpec:
  """The gymnax environment ``name``, or the description of the Atari game ``name``."""
  return atari.spec(name) if atari.is_game(name) else envs.make(name)


def q_network(config: DQNConfig):
  env = environment(config.env)
  return nets.q_network(network_kind(config, env), env.num_actions, config.hidden)


def hyperparameters(config: DQNConfig) -> dict:
  """The hyperparameters that change no shape and no program, as the state's arrays (a sweep
  vmaps runs that differ in them; the training step reads them from here, never from the
  config). The epsilon schedule's span is computed here in double precision, as a constant of
  the program was before."""
  f32, i32 = (lambda v: jnp.asarray(v, jnp.float32)), (lambda v: jnp.asarray(v, jnp.int32))
  out = {"learning_rate": f32(config.learning_rate), "gamma": f32(config.gamma),
         "tau": f32(config.tau), "huber_delta": f32(config.huber_delta),
         "epsilon_start": f32(config.epsilon_start),
         "epsilon_span": f32(config.epsilon_end - config.epsilon_start),
         "epsilon_decay_steps": i32(config.epsilon_decay_steps),
         "target_update_every": i32(config.target_update_every)}
  if config.max_grad_norm is not None:
    out["max_grad_norm"] = f32(config.max_grad_norm)
  return out


def optimizer(config: DQNConfig, hyper: dict | None = None) -> optax.GradientTransformation:
  """The config's optimiser; its learning rate and clipping norm from ``hyper`` (the state's
  :func:`hyperparameters`) where given. (Their state holds neither: the same structure either way.)"""
  h = hyperparameters(config) if hyper is None else hyper
  if config.optimizer == "adam":
    tx = optax.adam(h["learning_rate"], eps=config.adam_eps)
  else:
    tx = optax.rmsprop(h["learning_rate"], decay=config.rmsprop_decay, eps=config.rmsprop_eps,
                       centered=config.rmsprop_centered, eps_in_sqrt=config.rmsprop_eps_in_sqrt)
  if config.max_grad_norm is not None:
    tx = optax.chain(optax.clip_by_global_norm(h["max_grad_norm"]), tx)
  return tx


# ---- initialisation: replay memory D, Q and its target copy --------------------------------------


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
  hyper: dict              # hyperparameters(config), or a sweep's values for this run: what
                           # the step reads (replacing the config does not change these)
  config: DQNConfig = struct.field(pytree_node=False)


def _transition_example(env: envs.Environment) -> dict:
  obs = jnp.zeros(env.observation_shape, env.storage_dtype)
  return {"obs": obs, "action": jnp.zeros((), jnp.int32), "reward": jnp.zeros((), jnp.float32),
          "next_obs": obs, "terminated": jnp.zeros((), bool), "truncated": jnp.zeros((), bool)}


def init(key, config: DQNConfig, start: tuple | None = None, hyper: dict | None = None) -> DQNState:
  """Fresh Q-network (and its target copy), optimiser, empty buffer and reset environments.
  ``key``: a ``jax.random.key`` (threefry) or a legacy uint32 ``PRNGKey``. ``start``: (obs,
  env_state) of environments reset elsewhere; required for Atari (``Pool.reset()``), where the
  buffer is a frame replay. ``hyper``: the run's :func:`hyperparameters` where they differ from
  the config's (a sweep). The checks that need the environment are made here, where the agent is
  built (:func:`jaxrl.dqn.config.check_environment`)."""
  if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    key = jax.random.wrap_key_data(key)
  k_net, k_env, k_run = jax.random.split(key, 3)
  env = environment(config.env)
  check_environment(config, env)
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
                  iteration=zero, key=jax.random.key_data(k_run),
                  hyper=hyperparameters(config) if hyper is None else hyper, config=config)


# ---- acting: epsilon-greedy, transitions into D --------------------------------------------------


def epsilon(hyper: dict, env_steps) -> jax.Array:
  """Linear from epsilon_start to epsilon_end over the first ``epsilon_decay_steps`` environment
  steps, then constant (``hyper``: the state's :func:`hyperparameters`)."""
  decay = hyper["epsilon_decay_steps"]
  frac = jnp.where(decay > 0, jnp.clip(env_steps / jnp.maximum(decay, 1), 0.0, 1.0), 1.0)
  return hyper["epsilon_start"] + frac * hyper["epsilon_span"]


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


def acting_noise(key, config: DQNConfig, steps: int) -> dict:
  """Everything random in ``steps`` steps of the environments, drawn at once ([steps, num_envs]):
  the exploration noise and, for gymnax, the environments' keys (envpool has its own RNG)."""
  k_policy, k_env = jax.random.split(key)
  shape = (steps, config.num_envs)
  noise = exploration_noise(k_policy, shape, environment(config.env).num_actions)
  if not config.atari:
    noise["env_key"] = jax.random.split(k_env, shape)
  return noise


def policy(state: DQNState, noise: dict) -> jax.Array:
  """The epsilon-greedy actions for ``state.obs`` (``noise``: one step of :func:`acting_noise`)."""
  q = q_network(state.config).apply(state.params, state.obs)
  return epsilon_greedy_with(noise, q, epsilon(state.hyper, state.env_steps))


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


# ---- learning: the TD target, the loss, a gradient step on a minibatch from D --------------------


def td_target(reward, terminated, next_q_target, gamma: float, next_q_online=None) -> jax.Array:
  """r + gamma * (1 - terminated) * max_a Q_target(s', a) (Double DQN: Q_target(s', argmax_a
  Q_online(s', a))). Truncation is not termination: a time-limited transition bootstraps."""
  if next_q_online is None:
    next_value = jnp.max(next_q_target, -1)
  else:
    best = jnp.argmax(next_q_online, -1)
    next_value = jnp.take_along_axis(next_q_target, best[:, None], -1)[:, 0]
  return reward + gamma * (1.0 - terminated.astype(reward.dtype)) * next_value


def td_loss(q_values, actions, targets, kind: str, delta=1.0) -> jax.Array:
  """Mean over the batch of the squared TD error, or the Huber loss (``delta`` 1: the gradient of
  the error clipped to [-1, 1], as in Mnih et al. 2015)."""
  q_taken = jnp.take_along_axis(q_values, actions[:, None].astype(jnp.int32), -1)[:, 0]
  error = q_taken - jax.lax.stop_gradient(targets)
  if kind == "huber":
    return jnp.mean(optax.huber_loss(error, delta=delta))
  return jnp.mean(jnp.square(error))


def loss_fn(params, target_params, batch: dict, config: DQNConfig, hyper: dict | None = None):
  """The DQN loss on a replay minibatch; returns (loss, mean Q of the actions taken). ``hyper``:
  the state's :func:`hyperparameters` (default: the config's)."""
  hyper = hyperparameters(config) if hyper is None else hyper
  net = q_network(config)
  q = net.apply(params, batch["obs"])
  next_q_target = net.apply(target_params, batch["next_obs"])
  next_q_online = net.apply(params, batch["next_obs"]) if config.double else None
  targets = td_target(batch["reward"], batch["terminated"], next_q_target, hyper["gamma"],
                      next_q_online)
  loss = td_loss(q, batch["action"], targets, config.loss, hyper["huber_delta"])
  return loss, jnp.mean(jnp.take_along_axis(q, batch["action"][:, None], -1))


def update(state: DQNState, key) -> tuple[DQNState, dict]:
  """One gradient step on a uniform minibatch from the buffer."""
  c = state.config
  batch = replay.sample(state.buffer, key, c.batch_size)  # a frame replay rebuilds the stacks
  (loss, q), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state.params, state.target_params, batch, c, state.hyper)
  updates, opt_state = optimizer(c, state.hyper).update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  state = state.replace(params=params, opt_state=opt_state, updates=state.updates + 1)
  return state, {"loss": loss, "q": q}


# ---- the target network --------------------------------------------------------------------------


def _crossed(counter, increment, period):
  """Whether ``counter`` passed a multiple of ``period`` in its last ``increment``."""
  return counter // period > (counter - increment) // period


def update_target(state: DQNState, env_steps_before, updates_before) -> DQNState:
  """The target network: copied (tau = 1) or Polyak-averaged once when its period (in environment
  steps or in updates) elapsed since the counters were ``env_steps_before`` and
  ``updates_before`` (once even if several periods did, which only matters for tau < 1 with a
  period shorter than an iteration)."""
  c, h = state.config, state.hyper
  if c.target_update_unit == "steps":
    due = _crossed(state.env_steps, state.env_steps - env_steps_before, h["target_update_every"])
  else:
    due = _crossed(state.updates, state.updates - updates_before, h["target_update_every"])
  new_target = optax.incremental_update(state.params, state.target_params, h["tau"])
  target = jax.tree.map(lambda n, o: jnp.where(due, n, o), new_target, state.target_params)
  return state.replace(target_params=target)


# ---- one iteration, a run ------------------------------------------------------------------------


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
  metrics = {**stats, **m, "learning": learning, "epsilon": epsilon(state.hyper, state.env_steps)}
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


def make_train(config: DQNConfig):
  """``train(key) -> (state, metrics)``: the whole run (config.num_iterations iterations) as one
  pure function, to be jitted and vmapped over seeds."""

  def train(key):
    return run(init(key, config), config.num_iterations)

  return train


# ---- evaluation ----------------------------------------------------------------------------------


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
