"""StackGAN (Zhang et al. ICCV 2017) networks: conditioning augmentation, the Stage-I and Stage-II
generators and the matching-aware discriminator of both stages.

Conditioning augmentation (the official TensorFlow code): a fully connected layer with leaky ReLU
(0.2) maps the text embedding to 2 x ``c_dim`` numbers, the first half mu and the second log sigma;
c = mu + exp(log sigma) * eps with eps ~ N(0, I).

Stage-I generator (the official PyTorch code's layout): [z, c] -> linear to 4 x 4 x (8 gf), batch
norm, ReLU -> up-sampling blocks (nearest-neighbour x2, 3x3 convolution, batch norm, ReLU) halving
the width each time until the image side -> 3x3 convolution to RGB, tanh. No transposed
convolution, so no slow strided-transpose gradient on CPU.

Discriminator: 4x4 stride-2 convolutions (df, 2 df, 4 df, 8 df, ...; batch norm from the second;
leaky ReLU 0.2) down to 4x4; the text embedding compressed by a linear layer with leaky ReLU to
``e_dim`` (128), replicated over the 4x4 grid and concatenated; a 3x3 convolution to 8 df with
batch norm and leaky ReLU; a 4x4 VALID convolution to one logit. The discriminator compresses the
embedding itself (the TensorFlow code), so it does not depend on the generator's parameters.
"""

import jax
import jax.numpy as jnp
from flax import linen as nn

from jaxrun.conv import Conv
from jaxgan.nets.layers import batch_norm, device_slice, num_devices

_W = nn.initializers.normal(0.02)


def _bn_scale(key, shape, dtype=jnp.float32):
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def check_stackgan_shape(shape: tuple[int, ...]) -> None:
  if len(shape) != 3 or shape[0] != shape[1] or shape[0] not in (32, 64, 128, 256):
    raise ValueError(f"StackGAN images are square with side 32, 64 (Stage-I) or 128, 256 "
                     f"(Stage-II), got {shape}.")


class ConditioningAugmentation(nn.Module):
  """Text embedding [B, T] -> (mu, log_sigma), each [B, c_dim]."""

  c_dim: int = 128

  @nn.compact
  def __call__(self, embedding):
    h = nn.leaky_relu(nn.Dense(2 * self.c_dim, kernel_init=_W)(embedding), 0.2)
    return h[:, :self.c_dim], h[:, self.c_dim:]


def reparameterize(key, mu, log_sigma, axis_name: str | None = None):
  """c = mu + exp(log sigma) * eps, eps ~ N(0, I); under data parallelism eps is this device's
  slice of the global batch's draw."""
  n = mu.shape[0]
  eps = jax.random.normal(key, (n * num_devices(axis_name), *mu.shape[1:]), mu.dtype)
  return mu + jnp.exp(log_sigma) * device_slice(eps, n, axis_name)


def upsample_nearest(x):
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


class StageIGenerator(nn.Module):
  """(z [B, z_dim], text embedding [B, T]) -> (images [B, S, S, 3] in [-1, 1], mu, log_sigma);
  the conditioning noise comes from the ``'ca'`` rng stream (evaluation: ``sample=False`` takes c =
  mu)."""

  image_size: int = 64
  gf_dim: int = 128
  c_dim: int = 128
  axis_name: str | None = None

  @nn.compact
  def __call__(self, z, embedding, train: bool = True, sample: bool = True):
    mu, log_sigma = ConditioningAugmentation(self.c_dim)(embedding)
    c = reparameterize(self.make_rng("ca"), mu, log_sigma, self.axis_name) if sample else mu
    bn = lambda: batch_norm(True, train, self.axis_name, _bn_scale)
    feats = 8 * self.gf_dim
    h = nn.Dense(4 * 4 * feats, use_bias=False, kernel_init=_W)(jnp.concatenate([z, c], -1))
    h = nn.relu(bn()(h.reshape(z.shape[0], 4, 4, feats)))
    while h.shape[1] < self.image_size:
      feats //= 2
      h = Conv(feats, 3, padding=1, use_bias=False, kernel_init=_W)(upsample_nearest(h))
      h = nn.relu(bn()(h))
    image = jnp.tanh(Conv(3, 3, padding=1, use_bias=False, kernel_init=_W)(h))
    return image, mu, log_sigma


class MatchingAwareDiscriminator(nn.Module):
  """(images [B, S, S, 3], text embedding [B, T]) -> (logits [B] of "real image matching its
  text", logits [B] of "real image" or None), for both stages: 4x4 stride-2 convolutions doubling
  the width from df down to 4x4 (batch norm from the second), 3x3 convolutions halving it back to
  8 df where it went beyond (Stage-II: the official 256x256 discriminator goes to 32 df and back),
  then the text head. ``unconditional``: a second head reads the same 4x4 image features without
  the text (one 4x4 convolution, the official PyTorch Stage-II's ``get_uncond_logits``)."""

  df_dim: int = 64
  e_dim: int = 128
  axis_name: str | None = None
  unconditional: bool = False

  @nn.compact
  def __call__(self, x, embedding, train: bool = True):
    bn = lambda: batch_norm(True, train, self.axis_name, _bn_scale)
    conv = lambda f: Conv(f, 4, stride=2, padding=1, use_bias=False, kernel_init=_W)
    h = nn.leaky_relu(conv(self.df_dim)(x), 0.2)
    feats = self.df_dim
    while h.shape[1] > 4:
      feats *= 2
      h = nn.leaky_relu(bn()(conv(feats)(h)), 0.2)
    while feats > 8 * self.df_dim:
      feats //= 2
      h = nn.leaky_relu(bn()(Conv(feats, 3, padding=1, use_bias=False, kernel_init=_W)(h)), 0.2)
    unconditional = None
    if self.unconditional:
      unconditional = Conv(1, 4, use_bias=False, kernel_init=_W, name="unconditional")(h)
      unconditional = unconditional.reshape(x.shape[0])
    e = nn.leaky_relu(nn.Dense(self.e_dim, kernel_init=_W)(embedding), 0.2)
    e = jnp.broadcast_to(e[:, None, None, :], (x.shape[0], 4, 4, self.e_dim))
    h = jnp.concatenate([h, e], -1)
    h = nn.leaky_relu(bn()(Conv(8 * self.df_dim, 3, padding=1, use_bias=False, kernel_init=_W)(h)), 0.2)
    return Conv(1, 4, use_bias=False, kernel_init=_W)(h).reshape(x.shape[0]), unconditional


class ResBlock(nn.Module):
  """x + BN(conv3x3(ReLU(BN(conv3x3(x))))), then ReLU (the official code's residual block)."""

  axis_name: str | None = None

  @nn.compact
  def __call__(self, x, train: bool = True):
    feats = x.shape[-1]
    bn = lambda: batch_norm(True, train, self.axis_name, _bn_scale)
    h = nn.relu(bn()(Conv(feats, 3, padding=1, use_bias=False, kernel_init=_W)(x)))
    h = bn()(Conv(feats, 3, padding=1, use_bias=False, kernel_init=_W)(h))
    return nn.relu(x + h)


class StageIIGenerator(nn.Module):
  """(Stage-I image [B, s, s, 3], text embedding) -> (image [B, 4s, 4s, 3], mu, log_sigma): the
  Stage-I image encoded to s/4 x s/4 x 4 gf (3x3 convolution, then two 4x4 stride-2 convolutions
  with batch norm), joined with its own conditioning augmentation's c replicated over that grid (a
  3x3 convolution to 4 gf), ``res_blocks`` residual blocks, then four up-sampling blocks (2 gf, gf,
  gf / 2, gf / 4) to 4s and a 3x3 convolution to RGB with tanh.

  ``stage1_residual`` (not the paper's: the Laplacian pyramid GAN's refinement, Denton et al. 2015):
  the RGB convolution's output is added, before the tanh, to the Stage-I image bilinearly
  up-sampled to 4s and mapped back through arctanh, so that Stage-II draws a correction of its
  Stage-I image rather than a new image; a zero correction returns the up-sampled Stage-I image
  (its pixels clipped to +-STAGE1_RESIDUAL_CLIP)."""

  gf_dim: int = 128
  c_dim: int = 128
  res_blocks: int = 4
  axis_name: str | None = None
  stage1_residual: bool = False

  @nn.compact
  def __call__(self, stage1_image, embedding, train: bool = True, sample: bool = True):
    mu, log_sigma = ConditioningAugmentation(self.c_dim)(embedding)
    c = reparameterize(self.make_rng("ca"), mu, log_sigma, self.axis_name) if sample else mu
    bn = lambda: batch_norm(True, train, self.axis_name, _bn_scale)
    g = self.gf_dim
    h = nn.relu(Conv(g, 3, padding=1, use_bias=False, kernel_init=_W)(stage1_image))
    for feats in (2 * g, 4 * g):
      h = nn.relu(bn()(Conv(feats, 4, stride=2, padding=1, use_bias=False, kernel_init=_W)(h)))
    grid = jnp.broadcast_to(c[:, None, None, :], (*h.shape[:3], self.c_dim))
    h = nn.relu(bn()(Conv(4 * g, 3, padding=1, use_bias=False, kernel_init=_W)(
        jnp.concatenate([h, grid], -1))))
    for _ in range(self.res_blocks):
      h = ResBlock(self.axis_name)(h, train)
    for feats in (2 * g, g, g // 2, g // 4):
      h = Conv(max(feats, 1), 3, padding=1, use_bias=False, kernel_init=_W)(upsample_nearest(h))
      h = nn.relu(bn()(h))
    out = Conv(3, 3, padding=1, use_bias=False, kernel_init=_W)(h)
    if self.stage1_residual:
      out = out + stage1_logits(stage1_image, out.shape[1])
    return jnp.tanh(out), mu, log_sigma


STAGE1_RESIDUAL_CLIP = 0.99  # arctanh(0.99) = 2.65: a saturated Stage-I pixel stays correctable


def stage1_logits(stage1_image, side: int):
  """The Stage-I image [B, s, s, 3] in [-1, 1], bilinearly up-sampled to ``side`` and mapped back
  through arctanh (clipped to +-STAGE1_RESIDUAL_CLIP first): tanh of it is the up-sampled image."""
  up = jax.image.resize(stage1_image, (stage1_image.shape[0], side, side, 3), "bilinear")
  return jnp.arctanh(jnp.clip(up, -STAGE1_RESIDUAL_CLIP, STAGE1_RESIDUAL_CLIP))
