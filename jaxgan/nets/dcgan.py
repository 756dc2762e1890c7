"""DCGAN generator and critic as in the official WGAN code (models/dcgan.py): bias-free
convolutions, N(0, 0.02) weights, BatchNorm scale N(1, 0.02), ReLU / LeakyReLU(0.2), tanh output.
The generator's up-sampling is the sub-pixel form of ConvTranspose(4, 2, 1), see ``layers``."""

import jax
import jax.numpy as jnp
from flax import linen as nn

from jaxrun.conv import Conv
from jaxgan.nets.layers import SubPixelConvTranspose, batch_norm

_W = nn.initializers.normal(0.02)


def _bn_scale(key, shape, dtype=jnp.float32):
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def check_image_shape(shape: tuple[int, ...]) -> None:
  """Raises ValueError unless the DCGAN networks can take images of ``shape`` (H, W, C)."""
  if len(shape) != 3 or shape[0] != shape[1] or shape[0] < 16 or shape[0] % 16:
    raise ValueError(
        f"the DCGAN networks take square images whose side is a multiple of 16 (16, 32, 64, ...), "
        f"got data of shape {shape}; pass --image-size 16, 32 or 64, or use --arch mlp.")


class DCGANGenerator(nn.Module):
  image_shape: tuple[int, int, int]
  width: int = 64  # ngf
  batch_norm: bool = True
  axis_name: str | None = None

  @nn.compact
  def __call__(self, z, labels=None, train: bool = True):
    size, channels = self.image_shape[0], self.image_shape[2]
    feats, s = self.width // 2, 4
    while s != size:
      feats, s = feats * 2, s * 2
    bn = lambda: batch_norm(self.batch_norm, train, self.axis_name, _bn_scale)
    # ConvTranspose(nz, cngf, 4, 1, 0) on a 1x1 input is exactly a dense layer to 4x4xcngf.
    h = nn.Dense(4 * 4 * feats, use_bias=False, kernel_init=_W)(z).reshape(z.shape[0], 4, 4, feats)
    h = nn.relu(bn()(h))
    s = 4
    while s < size // 2:
      feats //= 2
      h = nn.relu(bn()(SubPixelConvTranspose(feats)(h)))
      s *= 2
    return jnp.tanh(SubPixelConvTranspose(channels)(h))


class DCGANCritic(nn.Module):
  """Returns one score (critic) or logit (discriminator) per example."""

  width: int = 64  # ndf
  batch_norm: bool = True
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x, labels=None, train: bool = True):
    conv = lambda f: Conv(f, 4, stride=2, padding=1, use_bias=False, kernel_init=_W)
    h = nn.leaky_relu(conv(self.width)(x), 0.2)
    feats, s = self.width, x.shape[1] // 2
    while s > 4:
      feats, s = feats * 2, s // 2
      h = conv(feats)(h)
      h = nn.leaky_relu(batch_norm(self.batch_norm, train, self.axis_name, _bn_scale)(h), 0.2)
    h = Conv(1, 4, use_bias=False, kernel_init=_W)(h)
    return h.reshape(x.shape[0])
