"""Layers shared by the networks.

Up-sampling. A transposed convolution with a 4x4 kernel, stride 2 and padding 1 (the DCGAN
up-sampling) is, for each of the four output phases (row parity, column parity), a stride-1
convolution of the input with 2x2 of the kernel's 16 taps. Stacking the four phases as channels
gives one stride-1 3x3 convolution to 4x the channels followed by depth-to-space: the same
function, computed without XLA's slow strided-transpose weight gradient on CPU (DESIGN.md,
Performance notes). ``SubPixelConvTranspose`` keeps the transposed convolution's parameter
(a 4x4 kernel, same shape and initialisation) and rearranges it at call time, so the function
class, the parameter count and the initial distribution are exactly those of the paper's layer.
"""

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

# For output phase p (0: even, 1: odd) and input offset d = t - 1 (t = 0, 1, 2), the transposed
# kernel tap a that connects them (y[2m + a - 1] += x[m'] K[a] with m' = m + d); 4 marks "none".
_TAP = np.array([[3, 1, 4], [4, 2, 0]])  # [phase, t]


def subpixel_kernel(kernel: jax.Array) -> jax.Array:
  """Rearranges a (4, 4, Cin, Cout) transposed-convolution kernel (stride 2, padding 1) into the
  (3, 3, Cin, 4 * Cout) stride-1 kernel of its sub-pixel form; output channel (py, px, o)."""
  kh, kw, cin, cout = kernel.shape
  if (kh, kw) != (4, 4):
    raise ValueError(f"subpixel_kernel takes a 4x4 kernel, got {kh}x{kw}.")
  padded = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))  # tap 4 is zero
  rows = _TAP.T  # [t, phase]
  gathered = padded[rows[:, None, :, None], rows[None, :, None, :]]  # [ty, tx, py, px, Cin, Cout]
  return gathered.transpose(0, 1, 4, 2, 3, 5).reshape(3, 3, cin, 4 * cout)


def depth_to_space(x: jax.Array, block: int = 2) -> jax.Array:
  """[B, H, W, b*b*C] with channel order (row phase, column phase, C) -> [B, b*H, b*W, C]."""
  b, h, w, c = x.shape
  out = c // (block * block)
  x = x.reshape(b, h, w, block, block, out).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, h * block, w * block, out)


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
    y = jax.lax.conv_general_dilated(
        x, subpixel_kernel(kernel.astype(x.dtype)), (1, 1), ((1, 1), (1, 1)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"))
    y = depth_to_space(y)
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


def batch_norm(enabled: bool, train: bool, axis_name: str | None, scale_init=nn.initializers.ones):
  """BatchNorm with PyTorch's defaults (momentum 0.1 -> Flax 0.9, eps 1e-5), synchronised over
  ``axis_name`` when data-parallel; the identity when disabled."""
  if not enabled:
    return lambda x: x
  return nn.BatchNorm(
      use_running_average=not train, momentum=0.9, epsilon=1e-5, axis_name=axis_name,
      scale_init=scale_init)
