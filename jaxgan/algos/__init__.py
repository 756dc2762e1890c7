"""One module per method; each exposes ``init(key, config) -> state``, pure step functions
``(state, batch, key) -> (state, metrics)``, ``train_step(state, data, key)`` (one generator
iteration with its inner discriminator/critic loop, batches drawn inside jit) and ``generate``.
A method that is not an image generator (the text encoder) replaces the loop's defaults with its
own ``device_data``, ``sample_figure`` and ``evaluate``."""

from jaxgan.algos import cgan, gan, stackgan, text_encoder, wgan

METHODS = {"gan": gan, "cgan": cgan, "wgan": wgan, "text-encoder": text_encoder,
           "stackgan": stackgan}
