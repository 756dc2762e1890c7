"""A device-resident experience replay buffer (Mnih et al. 2013) as pure functions over a pytree.

    buffer = replay.init(capacity, example_transition)
    buffer = replay.add(buffer, transitions)             # leading axis: parallel environments
    batch = replay.sample(buffer, key, batch_size)       # uniform over the filled slots

Circular with a fixed capacity: once full, each new transition overwrites the oldest. Every
function works under ``jit`` and ``vmap`` (a vmapped buffer is one buffer per seed). The buffer
stores whatever pytree it is given; DQN stores ``obs, action, reward, next_obs, terminated,
truncated``, keeping termination and time-limit truncation apart so that the target bootstraps
through a truncation and not through a termination.

Sampling below ``min_size`` filled slots is refused: eagerly with a ``ValueError``; under ``jit``
(where the size is not known to Python) the caller gates on :func:`can_sample`, as DQN's learning
start does.
"""

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class ReplayBuffer:
  data: dict            # each leaf [capacity, ...]
  position: jax.Array   # next slot to write
  size: jax.Array       # filled slots, <= capacity
  capacity: int = struct.field(pytree_node=False)
  min_size: int = struct.field(pytree_node=False)


def init(capacity: int, example, min_size: int = 1) -> ReplayBuffer:
  """An empty buffer for transitions shaped like ``example`` (one transition, no leading axis)."""
  if capacity < 1:
    raise ValueError(f"replay capacity must be >= 1, got {capacity}.")
  if not 1 <= min_size <= capacity:
    raise ValueError(f"replay min_size must lie in [1, capacity={capacity}], got {min_size}.")
  data = jax.tree.map(lambda x: jnp.zeros((capacity, *jnp.shape(x)), jnp.asarray(x).dtype), example)
  return ReplayBuffer(data, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32), capacity, min_size)


def add(buffer: ReplayBuffer, transitions) -> ReplayBuffer:
  """Writes a batch of transitions (leading axis n <= capacity) at the circular write position."""
  n = jax.tree.leaves(transitions)[0].shape[0]
  if n > buffer.capacity:
    raise ValueError(f"cannot add {n} transitions at once to a buffer of capacity {buffer.capacity}.")
  if n == 1:  # one environment: an in-place write at the position (cheaper than a scatter)
    data = jax.tree.map(
        lambda d, t: jax.lax.dynamic_update_slice_in_dim(d, t.astype(d.dtype), buffer.position, 0),
        buffer.data, transitions)
  else:
    idx = (buffer.position + jnp.arange(n)) % buffer.capacity
    data = jax.tree.map(lambda d, t: d.at[idx].set(t.astype(d.dtype)), buffer.data, transitions)
  return buffer.replace(data=data, position=(buffer.position + n) % buffer.capacity,
                        size=jnp.minimum(buffer.size + n, buffer.capacity))


def can_sample(buffer: ReplayBuffer) -> jax.Array:
  return buffer.size >= buffer.min_size


def _concrete_size(buffer: ReplayBuffer) -> int | None:
  """The fill level when Python can see it (eager, unbatched), else None (under jit or vmap)."""
  try:
    return int(buffer.size)
  except (jax.errors.JAXTypeError, TypeError):
    return None


def sample_indices(buffer: ReplayBuffer, key, batch_size: int) -> jax.Array:
  """``batch_size`` slots drawn uniformly, with replacement, from the filled ones."""
  size = _concrete_size(buffer)
  if size is not None and size < buffer.min_size:
    raise ValueError(f"the replay buffer holds {size} transitions, fewer than its minimum of "
                     f"{buffer.min_size} to sample from; add more first.")
  # 32 random bits modulo the size: one threefry draw where randint takes two (each a small XLA
  # loop on CPU); the modulo bias is below size / 2^32 (2e-4 relative for a 1M buffer).
  bits = jax.random.bits(key, (batch_size,), jnp.uint32)
  return (bits % jnp.maximum(buffer.size, 1).astype(jnp.uint32)).astype(jnp.int32)


def sample(buffer: ReplayBuffer, key, batch_size: int):
  """A uniform batch of stored transitions (a pytree with leading axis ``batch_size``)."""
  idx = sample_indices(buffer, key, batch_size)
  return jax.tree.map(lambda d: d[idx], buffer.data)
