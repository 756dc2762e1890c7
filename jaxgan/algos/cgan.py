"""The conditional GAN (Mirza & Osindero 2014).

It is Algorithm 1 of the GAN with the class label given to both players, so ``gan`` implements
both and this module names the conditional entry points: a config with ``num_classes > 0``
(preset: ``GANConfig.mirza``, the paper's MLP/maxout networks) and the same pure steps.
"""

from jaxgan.algos.gan import (  # noqa: F401  (the conditional GAN's API)
    GANConfig, GANState, discriminator_step, generate, generator_step, networks, train_step)
from jaxgan.algos import gan


def config(data_shape=(28, 28, 1), num_classes=10, **kw) -> GANConfig:
  """The paper preset (``GANConfig.mirza``) for ``num_classes`` classes."""
  return GANConfig.mirza(data_shape, num_classes, **kw)


def init(key, config: GANConfig) -> GANState:
  if config.num_classes < 1:
    raise ValueError("the conditional GAN needs num_classes >= 1 (a labelled dataset).")
  return gan.init(key, config)
