"""Pieces every adversarial method shares: a player's state, its forward pass and update,
noise and batch drawing, and the collectives that make a step data-parallel.

Data parallelism: every step takes ``axis_name``. With ``axis_name=None`` it is an ordinary
single-device step. Under ``jax.shard_map`` (see ``jaxgan.parallel``) each device holds a slice of
the global batch; gradients, batch statistics and metrics are averaged with ``lax.pmean``, and
the generator noise and data indices are drawn for the *global* batch from the shared key and
sliced per device, so a data-parallel step computes exactly what one device would on the global
batch (dropout masks are the exception: they are drawn per device).
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from flax import linen as nn

from jaxgan.nets.layers import device_slice, num_devices


@struct.dataclass
class Player:
  """One network of the game with everything that changes while it trains."""

  params: Any
  batch_stats: Any
  opt_state: Any


def init_player(module: nn.Module, tx: optax.GradientTransformation, key, *inputs) -> Player:
  variables = module.init({"params": key, "dropout": key}, *inputs, train=False)
  params = variables["params"]
  return Player(params, variables.get("batch_stats", {}), tx.init(params))


def apply(module: nn.Module, player: Player, *inputs, key, train: bool = True, params=None,
          batch_stats=None):
  """Runs ``module``; returns (output, batch statistics after the call)."""
  variables = {"params": player.params if params is None else params,
               "batch_stats": player.batch_stats if batch_stats is None else batch_stats}
  if not train:
    return module.apply(variables, *inputs, train=False), variables["batch_stats"]
  out, mutated = module.apply(variables, *inputs, train=True, rngs={"dropout": key},
                              mutable=["batch_stats"])
  return out, mutated.get("batch_stats", {})


def update(player: Player, tx: optax.GradientTransformation, grads, batch_stats,
           axis_name: str | None) -> Player:
  """Averages gradients over the data axis and applies one optimiser update."""
  grads = pmean(grads, axis_name)
  updates, opt_state = tx.update(grads, player.opt_state, player.params)
  params = optax.apply_updates(player.params, updates)
  return Player(params, batch_stats, opt_state)


def pmean(tree, axis_name: str | None):
  return tree if axis_name is None else jax.lax.pmean(tree, axis_name)


def device_key(key, axis_name: str | None):
  """A key private to this device (for dropout masks)."""
  return key if axis_name is None else jax.random.fold_in(key, jax.lax.axis_index(axis_name))


def sample_noise(key, n: int, z_dim: int, kind: str, axis_name: str | None = None) -> jax.Array:
  """z for ``n`` local examples: N(0, I) ('normal'), U(-sqrt 3, sqrt 3) ('uniform', unit variance,
  as in goodfeli/adversarial) or U(-1, 1) ('box', PixelDA). Drawn for the global batch and sliced
  per device."""
  shape = (n * num_devices(axis_name), z_dim)
  if kind == "normal":
    z = jax.random.normal(key, shape)
  elif kind == "uniform":
    z = jax.random.uniform(key, shape, minval=-jnp.sqrt(3.0), maxval=jnp.sqrt(3.0))
  elif kind == "box":
    z = jax.random.uniform(key, shape, minval=-1.0, maxval=1.0)
  else:
    raise ValueError(f"unknown noise {kind!r}; use 'normal', 'uniform' or 'box'.")
  return device_slice(z, n, axis_name)


def to_float(x: jax.Array) -> jax.Array:
  """Images are stored as uint8 (4x less device memory) and used in [-1, 1]; points as floats."""
  if x.dtype == jnp.uint8:
    return x.astype(jnp.float32) / 127.5 - 1.0
  return x.astype(jnp.float32)


def draw_indices(key, num_examples: int, batch_size: int, axis_name: str | None = None) -> jax.Array:
  """Indices of ``batch_size`` examples (the global batch) drawn uniformly with replacement;
  under data parallelism this device's slice of them."""
  idx = jax.random.randint(key, (batch_size,), 0, num_examples)
  return device_slice(idx, batch_size // num_devices(axis_name), axis_name)


def draw_batch(data: dict, key, batch_size: int, axis_name: str | None = None) -> dict:
  """Draws ``batch_size`` examples (the global batch) uniformly with replacement from device-resident
  ``data`` ({'x': ..., optionally 'y': ...}); under data parallelism returns this device's slice."""
  idx = draw_indices(key, data["x"].shape[0], batch_size, axis_name)
  batch = {"x": to_float(data["x"][idx])}
  if "y" in data:
    batch["y"] = data["y"][idx]
  return batch


def inner_loop(n_steps, step_fn, state, data: dict, key, batch_size: int, axis_name):
  """Runs ``n_steps`` (static or traced) discriminator/critic steps on batches drawn from ``data``
  inside jit; returns the state and the last step's metrics."""

  def body(i, carry):
    state, _ = carry
    k_batch, k_step = jax.random.split(jax.random.fold_in(key, i))
    return step_fn(state, draw_batch(data, k_batch, batch_size, axis_name), k_step, axis_name)

  # The metrics carry needs a template: trace the step abstractly rather than run it twice.
  _, metrics_shape = jax.eval_shape(lambda s: body(0, (s, None)), state)
  metrics = jax.tree.map(lambda m: jnp.zeros(m.shape, m.dtype), metrics_shape)
  return jax.lax.fori_loop(0, n_steps, body, (state, metrics))


def check_positive(name: str, value, hint: str = "") -> None:
  if not value > 0:
    raise ValueError(f"{name} must be > 0, got {value}.{(' ' + hint) if hint else ''}")


def check_widths(hidden, width: int) -> None:
  if any(h < 1 for h in hidden) or not hidden:
    raise ValueError(f"hidden widths must each be >= 1 (and at least one), got {tuple(hidden)}.")
  check_positive("width", width)


BATCH_ROWS = 256  # batched's batch: a program that compiles its calls ahead reads it


def batched(fn, x, size: int = BATCH_ROWS) -> np.ndarray:
  """``fn(start, batch)`` over the rows of ``x`` in batches of ``size`` (``start``: the batch's
  first row), concatenated on the host. Of several batches the last is padded to ``size`` (the
  padding's rows dropped), so that every batch runs one compiled program; a row's result must not
  depend on the rows beside it (on 2 CPU cores the networks here give the same bits in a batch of
  64 rows or more as in the full one, measured; in smaller batches they do not)."""
  if len(x) <= size:
    return np.asarray(fn(0, x))
  out = []
  for start in range(0, len(x), size):
    part = x[start:start + size]
    n = len(part)
    if n < size:
      part = np.concatenate([part, np.repeat(part[-1:], size - n, axis=0)])
    out.append(np.asarray(fn(start, part))[:n])
  return np.concatenate(out)
