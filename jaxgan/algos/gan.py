"""The GAN of Goodfellow et al. 2014 (Algorithm 1) and, with ``num_classes > 0``, the conditional
GAN of Mirza & Osindero 2014: the same game with both players given the class label.

    state = init(key, config)
    state, metrics = discriminator_step(state, batch, key)   # batch = {'x': images, 'y': labels}
    state, metrics = generator_step(state, batch, key)       # uses the batch's size and labels
    state, metrics = train_step(state, data, key)            # k discriminator steps + 1 generator
                                                             # step, batches drawn from device data
"""

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxgan import generators, losses, nets, optim, program
from jaxgan.algos import common
from jaxgan.algos.common import Player

ARCHS = ("maxout", "mlp", "dcgan")


@dataclasses.dataclass(frozen=True)
class GANConfig:
  """Hyperparameters of the (conditional) GAN. Defaults follow Algorithm 1 with the released code's
  networks; ``goodfellow``, ``mirza`` and ``toy`` are the named presets."""

  data_shape: tuple[int, ...] = (16, 16, 1)  # the data's shape: (H, W, C) images or (D,) points
  num_classes: int = 0            # > 0: conditional GAN
  arch: str = "maxout"            # maxout (paper MLP/maxout) | mlp (ReLU MLPs) | dcgan
  hidden: tuple[int, ...] = (128, 128)  # mlp widths
  width: int = 64                 # dcgan base width
  batch_norm: bool = True         # dcgan: batch norm in both networks
  generator_batch_norm: bool = True  # dcgan: False drops it from the generator alone (WGAN's Fig. 6)
  z_dim: int = 100                # size of the noise z
  noise: str = "uniform"          # uniform (U(-sqrt 3, sqrt 3), unit variance) | normal
  batch_size: int = 100           # examples per minibatch (both players)
  k: int = 1                      # discriminator steps per generator step
  generator_loss: str = "saturating"  # saturating (Algorithm 1) | non_saturating (-log D(G(z)), the released code)
  optimizer: str = "goodfellow_sgd"   # goodfellow_sgd (SGD, momentum 0.5 -> 0.7) | adam
  learning_rate: float = 0.1      # both players
  beta1: float = 0.5              # adam
  lr_decay: float = 1.000004      # goodfellow_sgd: lr divided by this every update

  def __post_init__(self):
    if self.arch not in ARCHS:
      raise ValueError(f"unknown arch {self.arch!r}; choose one of {ARCHS}.")
    if self.generator_loss not in losses.GENERATOR_LOSSES:
      raise ValueError(f"unknown generator_loss {self.generator_loss!r}; choose one of "
                       f"{tuple(losses.GENERATOR_LOSSES)}.")
    if self.optimizer not in ("goodfellow_sgd", "adam"):
      raise ValueError(f"unknown optimizer {self.optimizer!r}; choose goodfellow_sgd or adam.")
    if self.k < 1:
      raise ValueError(f"k (discriminator steps per generator step) must be >= 1, got {self.k}.")
    common.check_positive("batch_size", self.batch_size)
    common.check_positive("learning_rate", self.learning_rate)
    common.check_positive("z_dim", self.z_dim)
    common.check_widths(self.hidden, self.width)
    if self.arch == "dcgan":
      nets.check_image_shape(self.data_shape)
      if self.num_classes:
        raise ValueError("the conditional GAN takes --arch maxout or mlp, not dcgan.")

  @classmethod
  def goodfellow(cls, data_shape=(28, 28, 1), **kw) -> "GANConfig":
    """goodfeli/adversarial mnist.yaml: maxout D, 1200-1200 G, SGD 0.1 + momentum, batch 100,
    trained with the non-saturating generator loss."""
    return cls(data_shape=data_shape, **{"arch": "maxout", "generator_loss": "non_saturating", **kw})

  @classmethod
  def mirza(cls, data_shape=(28, 28, 1), num_classes=10, **kw) -> "GANConfig":
    """Mirza & Osindero 2014, Section 4.1: lr 0.1 decayed by 1.00004 per update, momentum 0.5 -> 0.7."""
    kw = {"lr_decay": 1.00004, "generator_loss": "non_saturating", "arch": "maxout", **kw}
    return cls(data_shape=data_shape, num_classes=num_classes, **kw)

  @classmethod
  def toy(cls, data_shape=(2,), **kw) -> "GANConfig":
    """2-D mixtures: ReLU MLPs, Gaussian noise, Adam 1e-3 (beta1 0.5), batch 256, the
    non-saturating generator loss (the saturating one barely moves the generator here)."""
    kw = {"batch_size": 256, "learning_rate": 1e-3, "generator_loss": "non_saturating",
          "arch": "mlp", "noise": "normal", "z_dim": 16, "optimizer": "adam", **kw}
    return cls(data_shape=data_shape, **kw)


SWEEPABLE = {"learning_rate": float, "k": int}  # --sweep: per-run arrays of the state
FIXED = {  # why the other fields cannot be swept
    **dict.fromkeys(("data_shape", "num_classes", "arch", "hidden", "width", "batch_norm",
                     "generator_batch_norm", "z_dim", "batch_size"),
                    "it sets the networks or array shapes"),
    **dict.fromkeys(("noise", "generator_loss", "optimizer"), "it chooses the program's code"),
}


def hyperparameters(config: GANConfig) -> dict:
  """The numbers a sweep varies per run, as the state's arrays (the steps read them from there)."""
  return {"learning_rate": jnp.asarray(config.learning_rate, jnp.float32),
          "k": jnp.asarray(config.k, jnp.int32)}


@struct.dataclass
class GANState:
  step: jax.Array  # generator iterations done
  generator: Player
  discriminator: Player
  hyper: dict      # hyperparameters(config), or a sweep's values for this run: what the steps read
  config: GANConfig = struct.field(pytree_node=False)


def networks(config: GANConfig, axis_name: str | None = None):
  """(generator, discriminator) Flax modules for ``config``."""
  c = config
  image = len(c.data_shape) == 3
  if c.arch == "maxout":
    return (nets.GoodfellowGenerator(c.data_shape, c.num_classes),
            nets.MaxoutDiscriminator(c.num_classes))
  if c.arch == "mlp":
    return (nets.MLPGenerator(c.data_shape, c.hidden, "tanh" if image else "linear", c.num_classes),
            nets.MLPDiscriminator(c.hidden, c.num_classes))
  return (nets.DCGANGenerator(c.data_shape, c.width, c.batch_norm and c.generator_batch_norm,
                              axis_name),
          nets.DCGANCritic(c.width, c.batch_norm, axis_name))


def optimizer(config: GANConfig, hyper: dict | None = None) -> optax.GradientTransformation:
  """Both players' optimiser; the learning rate from ``hyper`` (the state's) where given."""
  lr = config.learning_rate if hyper is None else hyper["learning_rate"]
  if config.optimizer == "adam":
    return optax.adam(lr, b1=config.beta1)
  return optim.goodfellow_sgd(lr, decay_factor=config.lr_decay)


def _labels(config: GANConfig, batch: dict):
  if config.num_classes == 0:
    return None
  if "y" not in batch:
    raise ValueError("the conditional GAN needs labels: batch['y'].")
  return batch["y"]


def init(key, config: GANConfig, hyper: dict | None = None) -> GANState:
  """Fresh players; ``hyper``: this run's :func:`hyperparameters` where a sweep sets them."""
  hyper = hyperparameters(config) if hyper is None else hyper
  generator, discriminator = networks(config)
  k_g, k_d = jax.random.split(key)
  z = jnp.zeros((2, config.z_dim))
  x = jnp.zeros((2, *config.data_shape))
  y = jnp.zeros((2,), jnp.int32) if config.num_classes else None
  tx = optimizer(config, hyper)
  return GANState(
      step=jnp.zeros((), jnp.int32),
      generator=common.init_player(generator, tx, k_g, z, y),
      discriminator=common.init_player(discriminator, tx, k_d, x, y),
      hyper=hyper, config=config)


def discriminator_step(state: GANState, batch: dict, key, axis_name: str | None = None):
  """One ascent step on log D(x) + log(1 - D(G(z))) (as descent on its negation)."""
  c = state.config
  generator, discriminator = networks(c, axis_name)
  y = _labels(c, batch)
  k_z, k_g, k_d = jax.random.split(key, 3)
  z = common.sample_noise(k_z, batch["x"].shape[0], c.z_dim, c.noise, axis_name)
  k_g, k_d = common.device_key(k_g, axis_name), common.device_key(k_d, axis_name)
  fake, _ = common.apply(generator, state.generator, z, y, key=k_g)
  fake = jax.lax.stop_gradient(fake)
  d = state.discriminator

  def loss_fn(params):
    real_logits, stats = common.apply(discriminator, d, batch["x"], y, key=k_d, params=params)
    fake_logits, stats = common.apply(discriminator, d, fake, y, key=jax.random.fold_in(k_d, 1),
                                      params=params, batch_stats=stats)
    loss = losses.discriminator_loss(real_logits, fake_logits)
    metrics = {"d_loss": loss, "d_real": jnp.mean(jax.nn.sigmoid(real_logits)),
               "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits))}
    return loss, (stats, metrics)

  grads, (stats, metrics) = jax.grad(loss_fn, has_aux=True)(d.params)
  stats = common.pmean(stats, axis_name)
  new_d = common.update(d, optimizer(c, state.hyper), grads, stats, axis_name)
  return state.replace(discriminator=new_d), common.pmean(metrics, axis_name)


def generator_step(state: GANState, batch: dict, key, axis_name: str | None = None):
  """One descent step on log(1 - D(G(z))) (or -log D(G(z)), non-saturating). Uses the batch's size
  and, for the conditional GAN, its labels."""
  c = state.config
  generator, discriminator = networks(c, axis_name)
  y = _labels(c, batch)
  k_z, k_g, k_d = jax.random.split(key, 3)
  z = common.sample_noise(k_z, batch["x"].shape[0], c.z_dim, c.noise, axis_name)
  k_g, k_d = common.device_key(k_g, axis_name), common.device_key(k_d, axis_name)
  g_loss_fn = losses.GENERATOR_LOSSES[c.generator_loss]

  def loss_fn(params):
    fake, stats = common.apply(generator, state.generator, z, y, key=k_g, params=params)
    fake_logits, _ = common.apply(discriminator, state.discriminator, fake, y, key=k_d)
    return g_loss_fn(fake_logits), stats

  (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.generator.params)
  stats = common.pmean(stats, axis_name)
  new_g = common.update(state.generator, optimizer(c, state.hyper), grads, stats, axis_name)
  state = state.replace(generator=new_g, step=state.step + 1)
  return state, {"g_loss": common.pmean(loss, axis_name)}


def train_step(state: GANState, data: dict, key, axis_name: str | None = None):
  """One generator iteration of Algorithm 1: k discriminator steps, then one generator step, with
  batches drawn inside jit from device-resident ``data``."""
  c = state.config
  k_d, k_batch, k_g = jax.random.split(key, 3)
  state, d_metrics = common.inner_loop(state.hyper["k"], discriminator_step, state, data, k_d,
                                       c.batch_size, axis_name)
  batch = common.draw_batch(data, k_batch, c.batch_size, axis_name)
  state, g_metrics = generator_step(state, batch, k_g, axis_name)
  return state, {**d_metrics, **g_metrics}


def generate(state: GANState, key, n: int, labels=None) -> jax.Array:
  """``n`` samples from the generator in evaluation mode (no dropout, running batch statistics)."""
  c = state.config
  generator, _ = networks(c)
  if c.num_classes and labels is None:
    labels = jnp.arange(n) % c.num_classes
  z = common.sample_noise(key, n, c.z_dim, c.noise)
  out, _ = common.apply(generator, state.generator, z, labels, key=key, train=False)
  return out


# ---- the run layer --------------------------------------------------------------------------------

def _unconditional(dataset, preset, **overrides) -> GANConfig:
  return getattr(GANConfig, preset)(dataset.data_shape, **overrides)


METHOD = generators.generator_method(
    "gan", "the GAN (Goodfellow et al. 2014, Algorithm 1)",
    program.Steps(init, train_step, generate, hyperparameters, SWEEPABLE, FIXED),
    GANConfig,
    presets={"goodfellow": lambda d, **kw: _unconditional(d, "goodfellow", **kw),
             "toy": lambda d, **kw: _unconditional(d, "toy", **kw)},
    preset_for=lambda dataset, settings: "goodfellow" if dataset.is_image else "toy",
    examples=lambda: {"goodfellow": GANConfig.goodfellow(), "toy": GANConfig.toy()},
    derived=("data_shape", "num_classes"))
