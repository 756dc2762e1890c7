"""One module per algorithm: ``init(key, config) -> state``, pure step functions ``(state, batch,
key) -> (state, metrics)``, ``train_step(state, data, key)`` (one iteration, batches drawn inside
jit) and, for the generators, ``generate``. The module a registry line names ends with ``METHOD``:
the method on the run layer (:class:`jaxrun.Method`); StackGAN's is in ``stackgan_run``, beside
its text encoder's embeddings and evaluation.

Adding a method: one module, one line here."""

from jaxrun import Registry

METHODS = Registry("jaxgan", {
    "gan": ("jaxgan.algos.gan", "the GAN (Goodfellow et al. 2014, Algorithm 1)"),
    "cgan": ("jaxgan.algos.cgan", "the conditional GAN (Mirza & Osindero 2014)"),
    "wgan": ("jaxgan.algos.wgan", "the Wasserstein GAN with weight clipping (Arjovsky et al. 2017)"),
    "text-encoder": ("jaxgan.algos.text_encoder",
                     "Reed et al. 2016's char-CNN-RNN text encoder (structured joint embedding)"),
    "stackgan": ("jaxgan.algos.stackgan_run",
                 "StackGAN Stage-I / Stage-II (Zhang et al. 2017) on a trained text encoder"),
    "pixelda": ("jaxgan.algos.pixelda_run",
                "pixel-level domain adaptation, PixelDA (Bousmalis et al. 2017)"),
    "frames": ("jaxgan.algos.frames_run",
               "next-frame prediction beyond MSE: multi-scale, GDL, adversarial (Mathieu et al. 2016)"),
}, other_tools={"dqn": "jaxrl"})
