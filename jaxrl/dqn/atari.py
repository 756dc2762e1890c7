"""DQN on envpool Atari: the same iteration as :mod:`jaxrl.dqn.algorithm` with another acting step
and replay. The environments are an envpool pool stepped through its XLA interface (``act`` is
:func:`act_and_store_frames` bound to ``Pool.xla_step``; :func:`make_host_run` steps it from Python
instead), and the replay is a :class:`jaxrl.replay.FrameReplay` that stores each frame once. A pool
is not a pytree of arrays, so ``init`` takes its reset observations (``start``) and an Atari state
cannot be vmapped over seeds. Evaluation plays whole games (:func:`evaluate_atari`).
"""

import jax
import jax.numpy as jnp

from jaxrl import replay
from jaxrl.dqn.algorithm import (DQNState, acting_noise, environment, epsilon_greedy_with,
                                 exploration_noise, iteration_keys, learn, policy, q_network)
from jaxrl.dqn.config import DQNConfig
from jaxrl.envs import atari


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
