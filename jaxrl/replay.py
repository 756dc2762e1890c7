"""A device-resident experience replay buffer (Mnih et al. 2013) as pure functions over a pytree.

    buffer = replay.init(capacity, example_transition)
    buffer = replay.add(buffer, transitions)             # leading axis: parallel environments
    batch = replay.sample(buffer, key, batch_size)       # uniform over the filled slots

Circular with a fixed capacity: once full, each new transition overwrites the oldest. Every
function works under ``jit`` and ``vmap`` (a vmapped buffer is one buffer per seed). The buffer
stores whatever pytree it is given; DQN stores ``obs, action, reward, next_obs, terminated,
truncated``, keeping termination and time-limit truncation apart so that the target bootstraps
through a truncation and not through a termination.

For stacked-frame observations (Atari), :func:`init_frames` / :func:`add_frames` /
:func:`sample_frames` store each frame once and rebuild the stacks at sample time (below).

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


def can_sample(buffer) -> jax.Array:
  """Whether ``buffer`` (a ReplayBuffer or a FrameReplay) holds enough to sample from."""
  if isinstance(buffer, FrameReplay):
    return can_sample_frames(buffer)
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


def sample(buffer, key, batch_size: int):
  """A uniform batch of stored transitions (a pytree with leading axis ``batch_size``); from a
  FrameReplay, :func:`sample_frames`."""
  if isinstance(buffer, FrameReplay):
    return sample_frames(buffer, key, batch_size)
  idx = sample_indices(buffer, key, batch_size)
  return jax.tree.map(lambda d: d[idx], buffer.data)


# ---- frames stored once -------------------------------------------------------------------------
#
# Atari observations are stacks of the last 4 frames; storing obs and next_obs per transition costs
# 8 frames (1M transitions of 84x84: 56 GB). A frame replay stores one record per environment step,
# the newest frame of the observation the agent acted on, and rebuilds both stacks at sample time
# by walking back through the same environment's records, stopping at the episode's first frame
# (which fills the rest of the stack, as envpool and Gymnasium's FrameStack do at reset).
#
# Records of N parallel environments are written N at a time, so environment e's previous record
# sits N slots before: the ring is a plain ReplayBuffer whose capacity is a multiple of N. Each
# record holds: frame, action, reward, terminated, truncated (of the step taken from this
# observation), first (this observation starts an episode) and valid (the step from it is a real
# transition; False for the reset step that envpool runs after a terminal observation, whose
# terminal -> reset pair must never be learned from).


@struct.dataclass
class FrameReplay:
  ring: ReplayBuffer
  num_envs: int = struct.field(pytree_node=False)
  stack: int = struct.field(pytree_node=False)


def init_frames(capacity: int, frame_example, num_envs: int = 1, stack: int = 4,
                min_size: int = 1) -> FrameReplay:
  """An empty frame replay holding ``capacity`` records (a multiple of ``num_envs``)."""
  if capacity % num_envs:
    raise ValueError(f"the frame replay's capacity ({capacity}) must be a multiple of the number "
                     f"of environments ({num_envs}).")
  if capacity < (stack + 1) * num_envs:
    raise ValueError(f"capacity {capacity} is too small for {num_envs} environments and stacks of "
                     f"{stack} frames.")
  example = {"frame": jnp.asarray(frame_example), "action": jnp.zeros((), jnp.int32),
             "reward": jnp.zeros((), jnp.float32), "terminated": jnp.zeros((), bool),
             "truncated": jnp.zeros((), bool), "first": jnp.zeros((), bool),
             "valid": jnp.zeros((), bool)}
  return FrameReplay(init(capacity, example, min_size), num_envs, stack)


def add_frames(replay: FrameReplay, records: dict) -> FrameReplay:
  """Writes one step of every environment (each leaf [num_envs, ...], keys as in init_frames)."""
  n = jax.tree.leaves(records)[0].shape[0]
  if n != replay.num_envs:
    raise ValueError(f"expected records of {replay.num_envs} environments, got {n}.")
  return replay.replace(ring=add(replay.ring, records))


def can_sample_frames(replay: FrameReplay) -> jax.Array:
  return replay.ring.size - replay.num_envs >= max(replay.ring.min_size, 1)


def frame_stack(replay: FrameReplay, slots: jax.Array) -> jax.Array:
  """The observation (``stack`` frames, oldest first) whose newest frame is at each of ``slots``,
  never reaching past the episode's first frame."""
  ring, n = replay.ring, replay.num_envs
  slot, frames = slots, [ring.data["frame"][slots]]
  for _ in range(replay.stack - 1):
    slot = jnp.where(ring.data["first"][slot], slot, (slot - n) % ring.capacity)
    frames.append(ring.data["frame"][slot])
  return jnp.stack(frames[::-1], axis=1)


def sample_frames(replay: FrameReplay, key, batch_size: int) -> dict:
  """A uniform batch of valid transitions with rebuilt ``obs`` and ``next_obs`` stacks.

  Candidates are the records whose next record exists and, once the ring has wrapped, whose
  stack history has not been overwritten; the (rare) invalid ones, reset steps, are drawn again
  until every draw is valid, so the batch is uniform over valid transitions (the redraws stop after
  64 rounds: a ring of almost only reset steps could return some). Refused (eagerly) while fewer
  than ``min_size`` records have a next record; under jit gate on :func:`can_sample_frames`."""
  ring, n = replay.ring, replay.num_envs
  size = _concrete_size(ring)
  if size is not None and size - n < max(ring.min_size, 1):
    raise ValueError(f"the frame replay holds {max(size - n, 0)} transitions with a next "
                     f"observation, fewer than its minimum of {max(ring.min_size, 1)}; add more first.")
  full = ring.size >= ring.capacity
  oldest = jnp.where(full, ring.position, 0)
  low = jnp.where(full, (replay.stack - 1) * n, 0)
  span = jnp.maximum(ring.size - n - low, 1).astype(jnp.uint32)

  def draw(k):
    offset = low + (jax.random.bits(k, (batch_size,), jnp.uint32) % span).astype(jnp.int32)
    return (oldest + offset) % ring.capacity

  def redraw(carry):
    slots, k, i = carry
    k, sub = jax.random.split(k)
    return jnp.where(ring.data["valid"][slots], slots, draw(sub)), k, i + 1

  def pending(carry):
    slots, _, i = carry
    return ~jnp.all(ring.data["valid"][slots]) & (i < 64)

  k_first, k_rest = jax.random.split(key)
  slots, _, _ = jax.lax.while_loop(pending, redraw, (draw(k_first), k_rest, 0))
  next_slots = (slots + n) % ring.capacity
  rec = jax.tree.map(lambda d: d[slots], ring.data)
  return {"obs": frame_stack(replay, slots), "action": rec["action"], "reward": rec["reward"],
          "next_obs": frame_stack(replay, next_slots), "terminated": rec["terminated"],
          "truncated": rec["truncated"]}


def bytes_per_transition(replay: FrameReplay) -> float:
  """Bytes the frame replay stores per transition (one record)."""
  return sum(x.dtype.itemsize * x[0].size for x in jax.tree.leaves(replay.ring.data))
