"""One module per method; each exposes ``init(key, config) -> state``, pure step functions
``(state, batch, key) -> (state, metrics)``, ``train_step(state, data, key)`` (one generator
iteration with its inner discriminator/critic loop, batches drawn inside jit) and ``generate``."""

from jaxgan.algos import cgan, gan, wgan

METHODS = {"gan": gan, "cgan": cgan, "wgan": wgan}
