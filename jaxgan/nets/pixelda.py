"""PixelDA's networks (Bousmalis et al. 2017; the official code, tensorflow/models
research/domain_adaptation/pixel_domain_adaptation): the residual generator, the domain
discriminator and the task classifier.

As in the official code (slim): weights drawn from N(0, 0.02), biases zero; a layer with batch
norm has no bias, and its batch norm has an offset but no scale (slim's default), decay 0.9 and
epsilon 0.001; "SAME" padding as TensorFlow pads it (the extra row and column of a stride-2
convolution of an even input at the end).
"""

import jax
import jax.numpy as jnp
from flax import linen as nn

from jaxgan.nets import layers
from jaxrun.conv import Conv

INIT = nn.initializers.normal(0.02)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
  """TensorFlow's "SAME" padding (before, after) of one spatial axis."""
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


def conv(x, features: int, kernel: int, stride: int = 1, use_bias: bool = True, name=None):
  pad = (same_padding(x.shape[1], kernel, stride), same_padding(x.shape[2], kernel, stride))
  return Conv(features, kernel, stride, pad, use_bias=use_bias, kernel_init=INIT, name=name)(x)


def batch_norm(train: bool, axis_name: str | None):
  """slim's batch norm: decay 0.9, epsilon 0.001, an offset and no scale."""
  return layers.batch_norm(True, train, axis_name, epsilon=1e-3, use_scale=False)


def max_pool_2x2(x: jax.Array) -> jax.Array:
  """2x2 max pooling, stride 2, VALID (slim's max_pool2d), as a reshape: its gradient is a
  select, not XLA:CPU's slow select-and-scatter inside a loop."""
  n, h, w, c = x.shape
  x = x[:, :h - h % 2, :w - w % 2]
  return x.reshape(n, h // 2, 2, w // 2, 2, c).max((2, 4))


def activation_noise(h: jax.Array, key, keep_prob: float, noise_std: float) -> jax.Array:
  """D's regularisation after each layer (training: ``key`` given): dropout that *keeps* each unit
  with probability ``keep_prob`` (TensorFlow's convention: keep_prob 0.9 drops 10%) and scales the
  kept ones by 1 / keep_prob, then Gaussian noise of std ``noise_std``. The identity without a key."""
  if key is None:
    return h
  k_drop, k_noise = jax.random.split(key)
  if keep_prob < 1.0:
    keep = jax.random.bernoulli(k_drop, keep_prob, h.shape)
    h = jnp.where(keep, h / keep_prob, 0.0)
  if noise_std:
    h = h + noise_std * jax.random.normal(k_noise, h.shape, h.dtype)
  return h


class ResNetGenerator(nn.Module):
  """G(x_s, z): z through a fully connected layer to one H x W channel (batch norm, ReLU),
  concatenated with the source image; a 3x3 convolution to ``filters`` (ReLU); ``blocks`` residual
  blocks (conv-BN-ReLU-conv-BN + skip); a 1x1 convolution to the target's channels and tanh.
  The resolution is preserved."""

  out_channels: int
  filters: int = 64
  blocks: int = 6
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x_source: jax.Array, z: jax.Array, train: bool = True) -> jax.Array:
    n, h, w, _ = x_source.shape
    noise = nn.Dense(h * w, use_bias=False, kernel_init=INIT)(z)
    noise = nn.relu(batch_norm(train, self.axis_name)(noise)).reshape(n, h, w, 1)
    net = nn.relu(conv(jnp.concatenate([x_source, noise], -1), self.filters, 3))
    for _ in range(self.blocks):
      r = nn.relu(batch_norm(train, self.axis_name)(conv(net, self.filters, 3, use_bias=False)))
      r = batch_norm(train, self.axis_name)(conv(r, self.filters, 3, use_bias=False))
      net = net + r
    return jnp.tanh(conv(net, self.out_channels, 1))


class DomainDiscriminator(nn.Module):
  """D: a 3x3 stride-1 convolution to ``filters`` (leaky ReLU 0.2), then stride-2 convolutions with
  batch norm and leaky ReLU, the filters doubling, down to 4 x 4; a linear logit. After every
  convolution, dropout with keep probability ``keep_prob`` (so 1 - keep_prob of the units are
  dropped) and Gaussian noise of std ``noise_std``, both in training only."""

  filters: int = 64
  keep_prob: float = 0.9
  noise_std: float = 0.2
  axis_name: str | None = None

  def _noise(self, h, train: bool):
    return activation_noise(h, self.make_rng("dropout") if train else None, self.keep_prob,
                            self.noise_std)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    h = self._noise(nn.leaky_relu(conv(x, self.filters, 3), 0.2), train)
    width = self.filters
    while h.shape[1] > 4:
      width *= 2
      h = batch_norm(train, self.axis_name)(conv(h, width, 3, stride=2, use_bias=False))
      h = self._noise(nn.leaky_relu(h, 0.2), train)
    return nn.Dense(1, kernel_init=INIT)(h.reshape(h.shape[0], -1))[:, 0]


TOWERS = ("source", "adapted")


class TaskClassifier(nn.Module):
  """T, the DANN / DSN MNIST network: conv 5x5 32, max-pool, conv 5x5 48, max-pool, FC 100, FC 100,
  FC ``num_classes`` (ReLU between). The first convolution is private: one copy for source images
  (``tower='source'``), one for adapted and target images (``tower='adapted'``); the rest is
  shared."""

  num_classes: int = 10

  def setup(self):
    self.conv1_source = Conv(32, 5, padding=2, kernel_init=INIT)
    self.conv1_adapted = Conv(32, 5, padding=2, kernel_init=INIT)
    self.conv2 = Conv(48, 5, padding=2, kernel_init=INIT)
    self.fc3 = nn.Dense(100, kernel_init=INIT)
    self.fc4 = nn.Dense(100, kernel_init=INIT)
    self.fc5 = nn.Dense(self.num_classes, kernel_init=INIT)

  def __call__(self, x: jax.Array, tower: str = "adapted") -> jax.Array:
    if tower not in TOWERS:
      raise ValueError(f"unknown tower {tower!r}; choose one of {TOWERS}.")
    h = max_pool_2x2(nn.relu(getattr(self, f"conv1_{tower}")(x)))
    h = max_pool_2x2(nn.relu(self.conv2(h)))
    h = nn.relu(self.fc3(h.reshape(h.shape[0], -1)))
    return self.fc5(nn.relu(self.fc4(h)))

  def both(self, x: jax.Array):
    """Both towers' logits (initialises every parameter)."""
    return self(x, "source"), self(x, "adapted")
