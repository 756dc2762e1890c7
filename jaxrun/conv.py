"""2-D convolution that stays fast inside loops on every backend.

Why not ``jax.lax.conv_general_dilated`` / ``flax.linen.Conv`` directly: inside a ``while`` loop
(our ``lax.scan`` training chunks and the n_critic inner loop) XLA:CPU leaves the weight-gradient
convolution in a non-canonical layout (``f01b_i01o->01bf``) and runs it through a naive loop
emitter: measured 200-270x slower than the same gradient outside a loop (jax-ml/jax#12868; DESIGN.md,
Performance notes). Strided convolutions add window dilation to both gradients.

So every convolution here is a stride-1 VALID convolution. On CPU it is written as one matrix
product over the k*k shifted views of the input (im2col), whose gradients are matrix products and
slice-adds: no convolution is left for XLA:CPU to mishandle, and its GEMMs ran 1.3-4.6x faster than
even the canonical convolutions, fwd+bwd in a loop, at the DCGAN critic's shapes. Other backends
take ``lax.conv_general_dilated`` (cuDNN / TPU convolutions have no such trap). A stride s is
removed exactly by space-to-depth: a k x k stride-s convolution equals a ceil(k/s) x ceil(k/s)
stride-1 convolution of the s x s space-to-depth input with the kernel rearranged (zero taps where
k is not a multiple of s). Same function, same parameters (the kernel keeps its (kh, kw, Cin, Cout)
shape and initialisation); tested against ``lax.conv_general_dilated`` values and gradients.
"""

from typing import Any, Callable

import jax
import jax.numpy as jnp
from flax import linen as nn

_DN = ("NHWC", "HWIO", "NHWC")


def _lax_valid(x: jax.Array, w: jax.Array) -> jax.Array:
  return jax.lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=_DN)


def _im2col_valid(x: jax.Array, w: jax.Array) -> jax.Array:
  kh, kw, cin, cout = w.shape
  n, h, wd, _ = x.shape
  ho, wo = h - kh + 1, wd - kw + 1
  if (kh, kw) == (1, 1):
    cols = x
  else:  # channel order (a, b, Cin), matching w.reshape
    cols = jnp.concatenate([x[:, a:a + ho, b:b + wo] for a in range(kh) for b in range(kw)], -1)
  y = cols.reshape(n * ho * wo, kh * kw * cin) @ w.reshape(kh * kw * cin, cout)
  return y.reshape(n, ho, wo, cout)


def conv_valid(x: jax.Array, w: jax.Array) -> jax.Array:
  """Stride-1 VALID convolution, NHWC input, HWIO kernel (im2col + GEMM on CPU)."""
  return jax.lax.platform_dependent(x, w, cpu=_im2col_valid, default=_lax_valid)


def space_to_depth(x: jax.Array, block: int) -> jax.Array:
  """[B, H, W, C] -> [B, H/b, W/b, b*b*C], channel order (row phase, column phase, C)."""
  n, h, w, c = x.shape
  x = x.reshape(n, h // block, block, w // block, block, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(n, h // block, w // block, block * block * c)


def depth_to_space(x: jax.Array, block: int = 2) -> jax.Array:
  """[B, H, W, b*b*C] with channel order (row phase, column phase, C) -> [B, b*H, b*W, C]."""
  n, h, w, c = x.shape
  out = c // (block * block)
  x = x.reshape(n, h, w, block, block, out).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(n, h * block, w * block, out)


def _as_pairs(padding) -> tuple[tuple[int, int], tuple[int, int]]:
  if isinstance(padding, int):
    return ((padding, padding), (padding, padding))
  return tuple(tuple(p) for p in padding)


def conv2d(x: jax.Array, w: jax.Array, stride: int = 1, padding=0) -> jax.Array:
  """``lax.conv_general_dilated(x, w, (stride, stride), padding)`` in NHWC / HWIO, computed as a
  stride-1 VALID convolution (see the module docstring). ``padding``: an int or ((top, bottom),
  (left, right)) of explicit zero padding."""
  (pt, pb), (pl, pr) = _as_pairs(padding)
  x = jnp.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
  if stride == 1:
    return conv_valid(x, w)
  s = stride
  kh, kw, cin, cout = w.shape
  out_h, out_w = (x.shape[1] - kh) // s + 1, (x.shape[2] - kw) // s + 1
  bh, bw = -(-kh // s), -(-kw // s)  # kernel size in blocks
  w = jnp.pad(w, ((0, bh * s - kh), (0, bw * s - kw), (0, 0), (0, 0)))
  # (m1, r1, m2, r2, i, o) -> (m1, m2, r1, r2, i, o): block offset, phase within the block, channel.
  w = w.reshape(bh, s, bw, s, cin, cout).transpose(0, 2, 1, 3, 4, 5).reshape(bh, bw, s * s * cin, cout)
  # Exactly the rows and columns the output reads, as whole blocks (crop or zero-extend).
  need_h, need_w = (out_h - 1 + bh) * s, (out_w - 1 + bw) * s
  x = x[:, :need_h, :need_w]
  x = jnp.pad(x, ((0, 0), (0, need_h - x.shape[1]), (0, need_w - x.shape[2]), (0, 0)))
  return conv_valid(space_to_depth(x, s), w)


class Conv(nn.Module):
  """``nn.Conv`` for square kernels with explicit padding, through :func:`conv2d`."""

  features: int
  kernel_size: int
  stride: int = 1
  padding: Any = 0
  use_bias: bool = True
  kernel_init: Callable[..., Any] = nn.initializers.lecun_normal()
  bias_init: Callable[..., Any] = nn.initializers.zeros

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k = self.kernel_size
    kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features), jnp.float32)
    y = conv2d(x, kernel.astype(x.dtype), self.stride, self.padding)
    if self.use_bias:
      y = y + self.param("bias", self.bias_init, (self.features,), jnp.float32).astype(x.dtype)
    return y
