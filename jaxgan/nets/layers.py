"""Layers shared by the networks.

Up-sampling. A transposed convolution with a 4x4 kernel, stride 2 and padding 1 (the DCGAN
up-sampling) computes each of the four output phases (row parity a, column parity b) from a 2x2
window of the input: out[2i + a, 2j + b] reads x[i + a - 1 .. i + a, j + b - 1 .. j + b] with the
kernel taps 3 - a - 2d. So one stride-1 2x2 convolution of the once-padded input to 4x the
channels, each phase read at its offset, is the same function, computed without XLA's slow
strided-transpose weight gradient on CPU and with exactly the transposed convolution's
multiply-adds (DESIGN.md, Performance notes). ``SubPixelConvTranspose`` keeps the transposed
convolution's parameter (a 4x4 kernel, same shape and initialisation) and rearranges it at call
time, so the function class, the parameter count and the initial distribution are exactly those
of the paper's layer.
"""

from typing import Any, Callable

import jax
import jax.numpy as jnp
from flax import linen as nn

from jaxrun.conv import conv2d, depth_to_space


def subpixel_kernel(kernel: jax.Array) -> jax.Array:
  """Rearranges a (4, 4, Cin, Cout) transposed-convolution kernel (stride 2, padding 1) into the
  (2, 2, Cin, 4 * Cout) stride-1 kernel of its sub-pixel form: tap (dy, dx) of output channel
  (a, b, o) is K[3 - a - 2 dy, 3 - b - 2 dx, :, o]."""
  kh, kw, cin, cout = kernel.shape
  if (kh, kw) != (4, 4):
    raise ValueError(f"subpixel_kernel takes a 4x4 kernel, got {kh}x{kw}.")
  flipped = kernel[::-1, ::-1]  # index 3 - t
  # flipped[2 dy + a] = K[3 - a - 2 dy]: rows (dy, a), columns (dx, b).
  k = flipped.reshape(2, 2, 2, 2, cin, cout)  # [dy, a, dx, b, Cin, Cout]
  return k.transpose(0, 2, 4, 1, 3, 5).reshape(2, 2, cin, 4 * cout)


def subpixel_conv_transpose(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """ConvTranspose(k=4, s=2, p=1) of ``x`` [B, H, W, Cin] with ``kernel`` (4, 4, Cin, Cout)."""
  n, h, w, _ = x.shape
  cout = kernel.shape[-1]
  y = conv2d(x, subpixel_kernel(kernel), padding=1)  # [B, H + 1, W + 1, (a, b, Cout)]
  y = y.reshape(n, h + 1, w + 1, 2, 2, cout)
  phases = [[y[:, a:a + h, b:b + w, a, b] for b in (0, 1)] for a in (0, 1)]
  return depth_to_space(jnp.stack([jnp.stack(row, 3) for row in phases], 3).reshape(n, h, w, 4 * cout))


def conv_transpose_reference(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """The definition: y[2i + a - 1, 2j + b - 1] += x[i, j] K[a, b] (PyTorch's ConvTranspose2d(k=4,
  s=2, p=1) with its weight laid out as (kh, kw, Cin, Cout)), computed as the adjoint of the
  strided convolution. Slow on CPU; used by tests and as documentation."""
  b, h, w, _ = x.shape
  cout = kernel.shape[-1]

  def strided_conv(y):
    return jax.lax.conv_general_dilated(
        y, kernel.transpose(0, 1, 3, 2), (2, 2), ((1, 1), (1, 1)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"))

  y_shape = jax.ShapeDtypeStruct((b, 2 * h, 2 * w, cout), x.dtype)
  (y,) = jax.linear_transpose(strided_conv, y_shape)(x)
  return y


class SubPixelConvTranspose(nn.Module):
  """ConvTranspose(features, kernel 4x4, stride 2, padding 1) computed in sub-pixel form."""

  features: int
  use_bias: bool = False
  kernel_init: Callable[..., Any] = nn.initializers.normal(0.02)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param("kernel", self.kernel_init, (4, 4, x.shape[-1], self.features), jnp.float32)
    y = subpixel_conv_transpose(x, kernel.astype(x.dtype))
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
    return y


class Maxout(nn.Module):
  """Maxout units (Goodfellow et al. 2013): max over ``pieces`` affine pieces per unit."""

  units: int
  pieces: int
  kernel_init: Callable[..., Any] = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    h = nn.Dense(self.units * self.pieces, kernel_init=self.kernel_init)(x)
    return h.reshape(*h.shape[:-1], self.units, self.pieces).max(-1)


def symmetric_uniform(irange: float):
  """U(-irange, irange): pylearn2's ``irange`` initialisation."""

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -irange, irange)

  return init


def num_devices(axis_name: str | None) -> int:
  """How many devices share the batch (1 outside data parallelism)."""
  return 1 if axis_name is None else jax.lax.psum(1, axis_name)


def device_slice(global_array: jax.Array, local_n: int, axis_name: str | None) -> jax.Array:
  """This device's ``local_n`` rows of an array drawn for the global batch: draws made this way
  do not depend on how many devices share the batch."""
  if axis_name is None:
    return global_array
  start = jax.lax.axis_index(axis_name) * local_n
  return jax.lax.dynamic_slice_in_dim(global_array, start, local_n)


def batch_norm(enabled: bool, train: bool, axis_name: str | None, scale_init=nn.initializers.ones,
               epsilon: float = 1e-5, use_scale: bool = True):
  """BatchNorm with PyTorch's defaults (momentum 0.1 -> Flax 0.9, eps 1e-5), synchronised over
  ``axis_name`` when data-parallel; the identity when disabled. (slim's: eps 1e-3, no scale.)"""
  if not enabled:
    return lambda x: x
  return nn.BatchNorm(
      use_running_average=not train, momentum=0.9, epsilon=epsilon, axis_name=axis_name,
      scale_init=scale_init, use_scale=use_scale)
