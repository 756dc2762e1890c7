"""Fully connected generators and discriminators.

``GoodfellowGenerator`` / ``MaxoutDiscriminator``: the networks of the released GAN code
(goodfeli/adversarial, mnist.yaml) and, with ``num_classes > 0``, those of the conditional GAN
(Mirza & Osindero 2014, Section 4.1). ``MLPGenerator`` / ``MLPDiscriminator``: plain ReLU MLPs
for 2-D mixtures and the WGAN MLP variants (official code: 512 units x 3 layers).

Generators end in ``output``: 'tanh' or 'sigmoid' for images in [-1, 1] (the sigmoid rescaled,
2 sigmoid(h) - 1, so that it covers the data range), 'linear' for points.
"""

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from jaxgan.nets.layers import Maxout, symmetric_uniform

_OUTPUTS = {
    "tanh": jnp.tanh,
    "sigmoid": lambda h: 2.0 * jax.nn.sigmoid(h) - 1.0,
    "linear": lambda h: h,
}


def _with_label(x: jax.Array, labels, num_classes: int) -> jax.Array:
  if num_classes == 0:
    return x
  return jnp.concatenate([x, jax.nn.one_hot(labels, num_classes, dtype=x.dtype)], axis=-1)


class MLPGenerator(nn.Module):
  data_shape: tuple[int, ...]
  hidden: Sequence[int] = (128, 128)
  output: str = "linear"
  num_classes: int = 0

  @nn.compact
  def __call__(self, z, labels=None, train: bool = True):
    h = _with_label(z, labels, self.num_classes)
    for width in self.hidden:
      h = nn.relu(nn.Dense(width)(h))
    h = nn.Dense(int(np.prod(self.data_shape)))(h)
    return _OUTPUTS[self.output](h).reshape(z.shape[0], *self.data_shape)


class MLPDiscriminator(nn.Module):
  """Returns one logit (GAN) or score (WGAN critic) per example."""

  hidden: Sequence[int] = (128, 128)
  num_classes: int = 0

  @nn.compact
  def __call__(self, x, labels=None, train: bool = True):
    h = _with_label(x.reshape(x.shape[0], -1), labels, self.num_classes)
    for width in self.hidden:
      h = nn.relu(nn.Dense(width)(h))
    return nn.Dense(1)(h)[:, 0]


class GoodfellowGenerator(nn.Module):
  """z -> 1200 ReLU -> 1200 ReLU -> sigmoid image (irange 0.05).

  Conditional (Mirza & Osindero): z -> 200 ReLU and y -> 1000 ReLU, joined -> 1200 ReLU with
  dropout -> sigmoid image.
  """

  data_shape: tuple[int, ...]
  num_classes: int = 0
  hidden: int = 1200
  dropout: float = 0.5  # conditional only, as in Mirza & Osindero

  @nn.compact
  def __call__(self, z, labels=None, train: bool = True):
    dense = lambda n: nn.Dense(n, kernel_init=symmetric_uniform(0.05))
    if self.num_classes == 0:
      h = nn.relu(dense(self.hidden)(z))
      h = nn.relu(dense(self.hidden)(h))
    else:
      hz = nn.relu(dense(200)(z))
      hy = nn.relu(dense(1000)(jax.nn.one_hot(labels, self.num_classes, dtype=z.dtype)))
      h = nn.relu(dense(self.hidden)(jnp.concatenate([hz, hy], -1)))
      h = nn.Dropout(self.dropout, deterministic=not train)(h)
    h = dense(int(np.prod(self.data_shape)))(h)
    return _OUTPUTS["sigmoid"](h).reshape(z.shape[0], *self.data_shape)


class MaxoutDiscriminator(nn.Module):
  """Two maxout layers of 240 units x 5 pieces with dropout (keep 0.8 on the input, 0.5 on hidden
  layers, irange 0.005), then one logit.

  Conditional (Mirza & Osindero): x -> maxout 240 x 5 and y -> maxout 50 x 5, joined -> maxout
  240 x 4 -> logit.
  """

  num_classes: int = 0
  units: int = 240
  pieces: int = 5
  input_keep: float = 0.8
  hidden_keep: float = 0.5

  @nn.compact
  def __call__(self, x, labels=None, train: bool = True):
    init = symmetric_uniform(0.005)
    drop = lambda keep: nn.Dropout(1.0 - keep, deterministic=not train)
    h = drop(self.input_keep)(x.reshape(x.shape[0], -1))
    if self.num_classes == 0:
      h = Maxout(self.units, self.pieces, init)(h)
      h = Maxout(self.units, self.pieces, init)(drop(self.hidden_keep)(h))
    else:
      y = jax.nn.one_hot(labels, self.num_classes, dtype=x.dtype)
      hx = Maxout(self.units, self.pieces, init)(h)
      hy = Maxout(50, self.pieces, init)(drop(self.input_keep)(y))
      h = Maxout(self.units, 4, init)(drop(self.hidden_keep)(jnp.concatenate([hx, hy], -1)))
    return nn.Dense(1, kernel_init=init)(drop(self.hidden_keep)(h))[:, 0]
