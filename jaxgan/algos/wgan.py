"""The Wasserstein GAN with weight clipping (Arjovsky et al. 2017, Algorithm 1, with the official
code's defaults and critic schedule).

    state = init(key, config)
    state, metrics = critic_step(state, batch, key)       # RMSProp, then weights clipped to [-c, c]
    state, metrics = generator_step(state, batch, key)
    state, metrics = train_step(state, data, key)         # n_critic critic steps (100 during the first
                                                          # 25 generator iterations and every 500th)
                                                          # + 1 generator step, all inside jit
"""

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxgan import generators, losses, nets, optim, program
from jaxgan.algos import common
from jaxgan.algos.common import Player

ARCHS = ("dcgan", "mlp")


@dataclasses.dataclass(frozen=True)
class WGANConfig:
  """Defaults are the official code's: RMSProp 5e-5, c = 0.01, n_critic = 5, batch 64, DCGAN
  networks of width 64, z ~ N(0, I) of size 100."""

  data_shape: tuple[int, ...] = (64, 64, 3)  # the data's shape: (H, W, C) images or (D,) points
  arch: str = "dcgan"             # dcgan | mlp
  width: int = 64                 # dcgan ngf / ndf
  hidden: tuple[int, ...] = (512, 512, 512)  # mlp widths (official MLP_G / MLP_D)
  generator_batch_norm: bool = True  # dcgan: batch norm in the generator (the paper also trains without)
  critic_batch_norm: bool = True  # dcgan: batch norm in the critic
  z_dim: int = 100                # size of the noise z
  noise: str = "normal"           # normal | uniform
  batch_size: int = 64            # examples per minibatch (critic and generator)
  learning_rate: float = 5e-5     # RMSProp, both players
  clip: float = 0.01              # weight clipping: the critic's weights stay in [-clip, clip]
  n_critic: int = 5               # critic iterations per generator iteration
  n_critic_warmup: int = 100      # critic iterations ...
  warmup_iterations: int = 25     # ... during the first generator iterations
  warmup_every: int = 500         # ... and at every this-many-th generator iteration (0: never)

  def __post_init__(self):
    if self.arch not in ARCHS:
      raise ValueError(f"unknown arch {self.arch!r} for WGAN; choose one of {ARCHS}.")
    common.check_positive("clip", self.clip, "The WGAN paper uses 0.01.")
    if self.n_critic < 1 or self.n_critic_warmup < 1:
      raise ValueError(f"n_critic must be >= 1, got {self.n_critic} (warm-up {self.n_critic_warmup}); "
                       "the paper uses 5.")
    common.check_positive("batch_size", self.batch_size)
    common.check_positive("learning_rate", self.learning_rate)
    common.check_positive("z_dim", self.z_dim)
    common.check_widths(self.hidden, self.width)
    if self.arch == "dcgan":
      nets.check_image_shape(self.data_shape)

  @classmethod
  def toy(cls, data_shape=(2,), **kw) -> "WGANConfig":
    """2-D mixtures: ReLU MLP critic and generator (128 x 3), batch 256, n_critic 5, RMSProp 1e-3
    with c = 0.1 and no 100-critic-iteration phases. The paper's lr 5e-5 and c = 0.01 (set for
    64x64 images) barely move these small networks: 0 of 8 ring modes after 5,000 iterations,
    where this preset covered 7 (seed 0) and 2 (seed 1); see benchmarks/results/gan_quality.md."""
    kw = {"batch_size": 256, "hidden": (128, 128, 128), "z_dim": 16, "learning_rate": 1e-3,
          "clip": 0.1, "warmup_iterations": 0, "warmup_every": 0, "arch": "mlp", **kw}
    return cls(data_shape=data_shape, **kw)


SWEEPABLE = {"learning_rate": float, "clip": float, "n_critic": int}  # --sweep: per-run arrays
FIXED = {  # why the other fields cannot be swept
    **dict.fromkeys(("data_shape", "arch", "width", "hidden", "z_dim", "batch_size",
                     "generator_batch_norm", "critic_batch_norm"), "it sets the networks or array shapes"),
    "noise": "it chooses the program's code",
}


def hyperparameters(config: WGANConfig) -> dict:
  """The numbers a sweep varies per run, as the state's arrays (the steps read them from there)."""
  return {"learning_rate": jnp.asarray(config.learning_rate, jnp.float32),
          "clip": jnp.asarray(config.clip, jnp.float32),
          "n_critic": jnp.asarray(config.n_critic, jnp.int32)}


@struct.dataclass
class WGANState:
  step: jax.Array  # generator iterations done
  generator: Player
  critic: Player
  hyper: dict      # hyperparameters(config), or a sweep's values for this run: what the steps read
  config: WGANConfig = struct.field(pytree_node=False)


def networks(config: WGANConfig, axis_name: str | None = None):
  """(generator, critic) Flax modules for ``config``."""
  c = config
  if c.arch == "mlp":
    output = "tanh" if len(c.data_shape) == 3 else "linear"
    return nets.MLPGenerator(c.data_shape, c.hidden, output), nets.MLPDiscriminator(c.hidden)
  return (nets.DCGANGenerator(c.data_shape, c.width, c.generator_batch_norm, axis_name),
          nets.DCGANCritic(c.width, c.critic_batch_norm, axis_name))


def generator_optimizer(hyper: dict) -> optax.GradientTransformation:
  return optim.wgan_rmsprop(hyper["learning_rate"])


def critic_optimizer(hyper: dict) -> optax.GradientTransformation:
  return optim.wgan_critic_optimizer(hyper["learning_rate"], hyper["clip"])


def init(key, config: WGANConfig, hyper: dict | None = None) -> WGANState:
  """Fresh players; ``hyper``: this run's :func:`hyperparameters` where a sweep sets them."""
  hyper = hyperparameters(config) if hyper is None else hyper
  generator, critic = networks(config)
  k_g, k_c = jax.random.split(key)
  gen = common.init_player(generator, generator_optimizer(hyper), k_g, jnp.zeros((2, config.z_dim)))
  crit = common.init_player(critic, critic_optimizer(hyper), k_c, jnp.zeros((2, *config.data_shape)))
  # The official code clamps before every critic step; clamping the initial weights once and
  # after every update (clip_weights) gives the same sequence of weights.
  crit = crit.replace(params=optim.clip_params(crit.params, hyper["clip"]))
  return WGANState(jnp.zeros((), jnp.int32), gen, crit, hyper, config)


def critic_step(state: WGANState, batch: dict, key, axis_name: str | None = None):
  """One step on E f(G(z)) - E f(x), then the critic's weights are clipped to [-c, c]."""
  c = state.config
  generator, critic = networks(c, axis_name)
  z = common.sample_noise(key, batch["x"].shape[0], c.z_dim, c.noise, axis_name)
  fake, _ = common.apply(generator, state.generator, z, key=key)
  fake = jax.lax.stop_gradient(fake)
  crit = state.critic

  def loss_fn(params):
    real, stats = common.apply(critic, crit, batch["x"], key=key, params=params)
    fake_scores, stats = common.apply(critic, crit, fake, key=key, params=params, batch_stats=stats)
    return losses.critic_loss(real, fake_scores), (stats, losses.wasserstein_estimate(real, fake_scores))

  grads, (stats, w_estimate) = jax.grad(loss_fn, has_aux=True)(crit.params)
  stats = common.pmean(stats, axis_name)
  crit = common.update(crit, critic_optimizer(state.hyper), grads, stats, axis_name)
  return state.replace(critic=crit), {"wasserstein": common.pmean(w_estimate, axis_name)}


def generator_step(state: WGANState, batch: dict, key, axis_name: str | None = None):
  """One step on -E f(G(z)); uses only the batch's size."""
  c = state.config
  generator, critic = networks(c, axis_name)
  z = common.sample_noise(key, batch["x"].shape[0], c.z_dim, c.noise, axis_name)

  def loss_fn(params):
    fake, stats = common.apply(generator, state.generator, z, key=key, params=params)
    scores, _ = common.apply(critic, state.critic, fake, key=key)
    return losses.wasserstein_generator_loss(scores), stats

  (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.generator.params)
  stats = common.pmean(stats, axis_name)
  gen = common.update(state.generator, generator_optimizer(state.hyper), grads, stats, axis_name)
  return state.replace(generator=gen, step=state.step + 1), {"g_loss": common.pmean(loss, axis_name)}


def critic_iterations(config: WGANConfig, step: jax.Array, n_critic=None) -> jax.Array:
  """The official schedule: n_critic_warmup during the first warmup_iterations generator
  iterations and at every warmup_every-th one, n_critic (the state's, a sweep's) otherwise."""
  warm = step < config.warmup_iterations
  if config.warmup_every:
    warm = warm | (step % config.warmup_every == 0)
  return jnp.where(warm, config.n_critic_warmup, config.n_critic if n_critic is None else n_critic)


def train_step(state: WGANState, data: dict, key, axis_name: str | None = None):
  """One generator iteration: the scheduled number of critic steps, then one generator step."""
  c = state.config
  k_c, k_batch, k_g = jax.random.split(key, 3)
  n = critic_iterations(c, state.step, state.hyper["n_critic"])
  state, c_metrics = common.inner_loop(n, critic_step, state, data, k_c, c.batch_size, axis_name)
  batch = common.draw_batch(data, k_batch, c.batch_size, axis_name)
  state, g_metrics = generator_step(state, batch, k_g, axis_name)
  return state, {**c_metrics, **g_metrics, "n_critic": n}


def generate(state: WGANState, key, n: int, labels=None) -> jax.Array:
  """``n`` samples from the generator in evaluation mode (running batch statistics)."""
  del labels
  generator, _ = networks(state.config)
  z = common.sample_noise(key, n, state.config.z_dim, state.config.noise)
  out, _ = common.apply(generator, state.generator, z, key=key, train=False)
  return out


# ---- the run layer --------------------------------------------------------------------------------

METHOD = generators.generator_method(
    "wgan", "the Wasserstein GAN with weight clipping (Arjovsky et al. 2017)",
    program.Steps(init, train_step, generate, hyperparameters, SWEEPABLE, FIXED), WGANConfig,
    presets={"paper": lambda d, **kw: WGANConfig(d.data_shape, **kw),
             "toy": lambda d, **kw: WGANConfig.toy(d.data_shape, **kw)},
    preset_for=lambda dataset, settings: "paper" if dataset.is_image else "toy",
    examples=lambda: {"paper": WGANConfig(), "toy": WGANConfig.toy()})
