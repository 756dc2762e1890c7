"""The networks of next-frame prediction (Mathieu, Couprie & LeCun ICLR 2016, Section 2-3 and
Table 1): a multi-scale generator predicting coarse to fine, and one discriminator per scale.

Frames are stacked along the channels: the 4 input frames of C channels are one [B, H, W, 4C]
tensor. At scale s (px), X_s is the input average-pooled to s x s; the coarsest scale predicts
Yhat_1 = G_1(X_1); every finer one refines the previous prediction up-sampled (nearest):

    Yhat_k = u(Yhat_{k-1}) + G_k(X_k, u(Yhat_{k-1}))

each G_k a stack of same-padded convolutions with ReLU between them and a tanh on its output (no
batch norm). D_k sees X_k with the real or the predicted frame at its scale: convolutions with
ReLU, then fully connected layers with ReLU, then one logit.
"""

from typing import Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

from jaxrun.conv import Conv  # nn.Conv's weight gradient inside lax.scan is ~200x slower on CPU

# Table 1 of the paper: (kernel sizes, feature maps) of G_k and of D_k's convolutions, and D_k's
# fully connected layers, for the scales 4, 8, 16 and 32 px (coarse to fine).
PAPER_GENERATOR = (((3, 3, 3, 3), (128, 256, 128)),
                   ((5, 3, 3, 5), (128, 256, 128)),
                   ((5, 3, 3, 3, 3, 5), (128, 256, 512, 256, 128)),
                   ((7, 5, 5, 5, 5, 7), (128, 256, 512, 256, 128)))
PAPER_DISCRIMINATOR = (((3,), (64,), (512, 256)),
                       ((3, 3, 3), (64, 128, 128), (1024, 512)),
                       ((5, 5, 5), (128, 256, 256), (1024, 512)),
                       ((7, 7, 5, 5), (128, 256, 512, 128), (1024, 512)))
# The official training script (train_iclr_model.lua): the same kernels with 16-64 feature maps in
# G and 32-128 in D, whose fully connected layers are 256, 128.
SMALL_GENERATOR = (((3, 3, 3, 3), (16, 32, 16)),
                   ((5, 3, 3, 5), (16, 32, 16)),
                   ((5, 3, 3, 3, 3, 5), (16, 32, 64, 32, 16)),
                   ((7, 5, 5, 5, 5, 7), (16, 32, 64, 32, 16)))
SMALL_DISCRIMINATOR = (((3,), (32,), (256, 128)),
                       ((3, 3, 3), (32, 32, 64), (256, 128)),
                       ((5, 5, 5), (32, 32, 64), (256, 128)),
                       ((7, 7, 5, 5), (32, 32, 64, 128), (256, 128)))


def downsample(frames: jax.Array, factor: int) -> jax.Array:
  """[B, H, W, C] average-pooled over ``factor`` x ``factor`` blocks (H, W multiples of it)."""
  b, h, w, c = frames.shape
  if factor == 1:
    return frames
  return frames.reshape(b, h // factor, factor, w // factor, factor, c).mean((2, 4))


def upsample(images: jax.Array, factor: int) -> jax.Array:
  """Nearest-neighbour up-sampling: each pixel repeated ``factor`` x ``factor`` times."""
  return jnp.repeat(jnp.repeat(images, factor, axis=1), factor, axis=2)


def _init():
  return nn.initializers.normal(0.02)


class ScaleGenerator(nn.Module):
  """G_k: same-padded convolutions of ``kernels`` (one more than ``features``: the last maps to
  the frame's channels) with ReLU between."""

  kernels: Sequence[int]
  features: Sequence[int]
  channels: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    widths = (*self.features, self.channels)
    for i, (k, f) in enumerate(zip(self.kernels, widths)):
      x = Conv(f, k, padding=(k - 1) // 2, kernel_init=_init())(x)
      if i < len(widths) - 1:
        x = nn.relu(x)
    return x


class MultiScaleGenerator(nn.Module):
  """The coarse-to-fine generator over ``scales``: down-sampling factors, decreasing to 1."""

  scales: Sequence[int]
  layers: Sequence[tuple[Sequence[int], Sequence[int]]]  # (kernels, features) per scale
  channels: int

  @nn.compact
  def __call__(self, inputs: jax.Array) -> list[jax.Array]:
    """``inputs`` [B, H, W, frames * C] -> the prediction at every scale, coarse to fine."""
    predictions, previous = [], None
    for k, (factor, (kernels, features)) in enumerate(zip(self.scales, self.layers)):
      x = downsample(inputs, factor)
      if previous is not None:
        previous = upsample(previous, self.scales[k - 1] // factor)
        x = jnp.concatenate([x, previous], -1)
      g = ScaleGenerator(tuple(kernels), tuple(features), self.channels, name=f"G{k + 1}")
      previous = jnp.tanh(g(x) if previous is None else previous + g(x))
      predictions.append(previous)
    return predictions


class ScaleDiscriminator(nn.Module):
  """D_k: unpadded convolutions with ReLU (``pool``: then a 2 x 2 max-pool), fully connected
  layers with ReLU, one logit per example."""

  kernels: Sequence[int]
  features: Sequence[int]
  hidden: Sequence[int]
  pool: bool = False

  @nn.compact
  def __call__(self, inputs: jax.Array, frame: jax.Array) -> jax.Array:
    x = jnp.concatenate([inputs, frame], -1)
    for k, f in zip(self.kernels, self.features):
      if x.shape[1] < k:
        raise ValueError(f"a {k}x{k} unpadded convolution of D does not fit {x.shape[1]} px maps.")
      x = nn.relu(Conv(f, k, kernel_init=_init())(x))
    if self.pool:
      x = nn.max_pool(x, (2, 2), (2, 2))
    x = x.reshape(x.shape[0], -1)
    for h in self.hidden:
      x = nn.relu(nn.Dense(h, kernel_init=_init())(x))
    return nn.Dense(1, kernel_init=_init())(x)[:, 0]


class MultiScaleDiscriminator(nn.Module):
  """D_1 ... D_K, one per scale (down-sampling factors): logits [B] per scale for the inputs with
  ``frames`` (one frame per scale, coarse to fine)."""

  scales: Sequence[int]
  layers: Sequence[tuple[Sequence[int], Sequence[int], Sequence[int]]]  # (kernels, features, hidden)

  @nn.compact
  def __call__(self, inputs: jax.Array, frames: Sequence[jax.Array]) -> list[jax.Array]:
    out = []
    for k, (factor, frame, (kernels, features, hidden)) in enumerate(zip(self.scales, frames,
                                                                         self.layers)):
      d = ScaleDiscriminator(tuple(kernels), tuple(features), tuple(hidden),
                             pool=factor == 1 and frame.shape[1] >= 32, name=f"D{k + 1}")
      out.append(d(downsample(inputs, factor), frame))
    return out
