"""jaxgan: functional JAX/Flax/Optax generative adversarial networks."""

from jaxgan import losses, nets, optim
from jaxgan.algos import cgan, gan, wgan
from jaxgan.algos.gan import GANConfig, GANState
from jaxgan.algos.wgan import WGANConfig, WGANState
from jaxgan.optim import clip_weights

__version__ = "0.1.0"
