"""The conditional GAN (Mirza & Osindero 2014).

It is Algorithm 1 of the GAN with the class label given to both players, so ``gan`` implements
both and this module names the conditional entry points: a config with ``num_classes > 0``
(preset: ``GANConfig.mirza``, the paper's MLP/maxout networks) and the same pure steps.
"""

from jaxgan import generators, program
from jaxgan.algos import gan
from jaxgan.algos.gan import (  # noqa: F401  (the conditional GAN's API)
    GANConfig, GANState, discriminator_step, generate, generator_step, networks, train_step)


def config(data_shape=(28, 28, 1), num_classes=10, **kw) -> GANConfig:
  """The paper preset (``GANConfig.mirza``) for ``num_classes`` classes."""
  return GANConfig.mirza(data_shape, num_classes, **kw)


def init(key, config: GANConfig, hyper: dict | None = None) -> GANState:
  if config.num_classes < 1:
    raise ValueError("the conditional GAN needs num_classes >= 1 (a labelled dataset).")
  return gan.init(key, config, hyper)


# ---- the run layer --------------------------------------------------------------------------------

def _mirza(dataset, **overrides) -> GANConfig:
  if not dataset.num_classes:
    raise ValueError(f"the conditional GAN needs class labels and {dataset.name} has none; use "
                     "--dataset digits or a labelled tfds dataset.")
  return GANConfig.mirza(dataset.data_shape, dataset.num_classes, **overrides)


METHOD = generators.generator_method(
    "cgan", "the conditional GAN (Mirza & Osindero 2014)",
    program.Steps(init, train_step, generate, gan.hyperparameters, gan.SWEEPABLE, gan.FIXED),
    GANConfig, presets={"mirza": _mirza}, preset_for=lambda dataset, settings: "mirza",
    examples=lambda: {"mirza": GANConfig.mirza()}, derived=("data_shape", "num_classes"))
