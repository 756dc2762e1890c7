"""The environment protocol every jaxrl agent talks to.

    obs, state = env.reset(key)
    obs, state, reward, terminated, truncated, info = env.step(key, state, action)

Environments reset themselves: after a step that ends an episode (``terminated | truncated``) the
returned ``obs`` and ``state`` already belong to the next episode, and ``info["final_observation"]``
holds the last observation of the finished one (what a replay buffer must store as its next
observation). ``info`` also carries episode statistics: ``episode_return`` and ``episode_length``
of the episode that just ended, valid where ``terminated | truncated``.

Everything is a pure function of its inputs, so ``jax.vmap`` over keys and states gives a pool of
parallel environments and ``jax.jit`` / ``lax.scan`` step them on the device.
"""

from typing import Any, Protocol

import jax
import jax.numpy as jnp
from flax import struct


class Environment(Protocol):
  name: str
  num_actions: int
  observation_shape: tuple[int, ...]
  observation_dtype: Any
  storage_dtype: Any          # how a replay buffer may store observations without loss
  max_episode_steps: int

  def reset(self, key: jax.Array) -> tuple[jax.Array, Any]: ...

  def step(self, key: jax.Array, state: Any, action: jax.Array
           ) -> tuple[jax.Array, Any, jax.Array, jax.Array, jax.Array, dict]: ...


@struct.dataclass
class EpisodeState:
  """An environment's own state with the running return and length of its current episode."""
  env_state: Any
  episode_return: jax.Array
  episode_length: jax.Array


def start_episode(env_state) -> EpisodeState:
  return EpisodeState(env_state, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))


def record_step(state: EpisodeState, env_state, reward, done) -> tuple[EpisodeState, dict]:
  """Adds one step's reward; on ``done`` reports the episode and starts the next one's counters."""
  ret = state.episode_return + reward
  length = state.episode_length + 1
  new = EpisodeState(env_state, jnp.where(done, 0.0, ret), jnp.where(done, 0, length))
  return new, {"episode_return": ret, "episode_length": length}
