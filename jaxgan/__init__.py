"""jaxgan: functional JAX/Flax/Optax generative adversarial networks.

The submodules load when first used (PEP 562), so ``jaxgan --help`` does not wait for JAX.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = {"losses": "jaxgan.losses", "nets": "jaxgan.nets", "optim": "jaxgan.optim",
               "cgan": "jaxgan.algos.cgan", "gan": "jaxgan.algos.gan", "wgan": "jaxgan.algos.wgan"}
_NAMES = {"GANConfig": "jaxgan.algos.gan", "GANState": "jaxgan.algos.gan",
          "WGANConfig": "jaxgan.algos.wgan", "WGANState": "jaxgan.algos.wgan",
          "clip_weights": "jaxgan.optim"}
__all__ = [*_SUBMODULES, *_NAMES]


def __getattr__(name):
  if name in _SUBMODULES:
    return importlib.import_module(_SUBMODULES[name])
  if name in _NAMES:
    return getattr(importlib.import_module(_NAMES[name]), name)
  raise AttributeError(f"module 'jaxgan' has no attribute {name!r}")


def __dir__():
  return sorted([*globals(), *__all__])
