"""StackGAN (Zhang et al. ICCV 2017). Stage-I: text embedding -> conditioning augmentation -> a
low-resolution image, against a matching-aware discriminator. Stage-II (``stage=2``): the trained
Stage-I generator, fixed, draws a low-resolution image (with the batch's statistics while
Stage-II trains, as both official codes run it; with its running statistics when sampling); a
second generator with its own conditioning augmentation refines it to 4x the side, against a
matching-aware discriminator at that resolution.

    state = init(key, config)                         # Stage-II: init(key, config, stage1_state)
    data = stackgan_run.device_data(split, encoder)   # images + every caption's text embedding
    state, metrics = discriminator_step(state, batch, key)
    state, metrics = generator_step(state, batch, key)
    state, metrics = train_step(state, data, key)     # one of each, batch drawn inside jit
    images = generate(state, key, embeddings)         # [N, S, S, 3] in [-1, 1]

The text embeddings come from a trained text encoder (``jaxgan train text-encoder``), computed
once for every caption; a training example's embedding is the mean of ``captions_per_image`` of
its captions' embeddings (the TensorFlow code averages 4). Loading the text encoder and the
Stage-I run that a Stage-II run refines is the run layer's job (:mod:`jaxgan.algos.stackgan_run`):
the functions here take their states. Paper preset (the official code, birds): z 100, c 128, Adam
2e-4 with beta1 0.5 for both players, batch 64, the KL term weighted 2.0 (both the TensorFlow and the
PyTorch code) and the learning rate halved every 50 epochs of the 600 (Stage-II: every
100).
"""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxgan import losses
from jaxgan.algos import common
from jaxgan.algos.common import Player
from jaxgan.nets.layers import device_slice, num_devices
from jaxgan.nets.stackgan import (MatchingAwareDiscriminator, StageIGenerator, StageIIGenerator,
                                  check_stackgan_shape)


@dataclasses.dataclass(frozen=True)
class StackGANConfig:
  data_shape: tuple[int, ...] = (64, 64, 3)  # the generated images' shape (H, W, 3)
  stage: int = 1                  # 1: text -> 32 or 64 px; 2: refines a trained Stage-I 4x
  res_blocks: int = 4             # Stage-II generator's residual blocks
  emb_dim: int = 1024             # size of the text embedding (the text encoder's)
  z_dim: int = 100                # size of the noise z
  c_dim: int = 128                # conditioning augmentation output (mu and log sigma: 128 each)
  gf_dim: int = 128               # the generator's 4x4 layer has 8 gf_dim channels
  df_dim: int = 64                # the discriminator's width
  e_dim: int = 128                # the discriminator's compressed text embedding
  kl_weight: float = 2.0          # lambda (TensorFlow code 2.0)
  batch_size: int = 64            # images per minibatch
  learning_rate: float = 2e-4     # Adam, both players
  beta1: float = 0.5              # Adam's beta1
  lr_halve_every: int = 0         # generator iterations between halvings (0: never)
  captions_per_image: int = 4     # embeddings averaged per training example
  unconditional_head: bool = False  # D also judges realism without the text (PyTorch Stage-II)
  stage1_batch_statistics: bool = True  # Stage-II's Stage-I draws use batch statistics (official)
  crop_augment: bool = False      # real images up-sampled 76/64 and cropped back at random (official)
  stage1_residual: bool = False   # Stage-II corrects the up-sampled Stage-I image (LAPGAN; not the paper)
  colour_consistency: float = 0.0  # Stage-II: StackGAN++'s colour consistency with Stage-I (0: off, the paper)
  stage1_consistency: float = 0.0  # Stage-II: L1 of its image pooled to Stage-I size to that image (not the paper)
  diff_augment: bool = False      # D judges translated + cut-out images, real and fake (DiffAugment; not the paper)

  def __post_init__(self):
    check_stackgan_shape(self.data_shape)
    if self.stage not in (1, 2):
      raise ValueError(f"stage must be 1 or 2, got {self.stage}.")
    if self.stage == 1 and self.data_shape[0] > 64:
      raise ValueError(f"Stage-I generates 32x32 or 64x64 images, got {self.data_shape[0]}; "
                       "Stage-II up-samples 4x.")
    if self.stage == 2 and self.data_shape[0] < 128:
      raise ValueError(f"Stage-II generates 4x the Stage-I side (128 or 256), got {self.data_shape[0]}.")
    if self.stage1_residual and self.stage == 1:
      raise ValueError("stage1_residual is a Stage-II option (it refines a Stage-I image): drop "
                       "--stage1-residual or train --stage 2.")
    for name in ("colour_consistency", "stage1_consistency"):
      if getattr(self, name) < 0:
        raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}.")
      if getattr(self, name) and self.stage == 1:
        raise ValueError(f"{name} ties Stage-II to its Stage-I image: drop "
                         f"--{name.replace('_', '-')} or train --stage 2.")
    if self.res_blocks < 0:
      raise ValueError(f"res_blocks must be >= 0, got {self.res_blocks}.")
    for name in ("emb_dim", "z_dim", "c_dim", "gf_dim", "df_dim", "e_dim", "batch_size",
                 "captions_per_image"):
      common.check_positive(name, getattr(self, name))
    common.check_positive("learning_rate", self.learning_rate)
    if self.kl_weight < 0:
      raise ValueError(f"kl_weight must be >= 0, got {self.kl_weight}.")
    if self.lr_halve_every < 0:
      raise ValueError(f"lr_halve_every must be >= 0, got {self.lr_halve_every}.")
    if self.batch_size < 2:
      raise ValueError("batch_size must be >= 2: mismatched pairs come from the same batch.")

  @classmethod
  def paper(cls, data_shape=(64, 64, 3), examples: int = 8855, **kw) -> "StackGANConfig":
    """The official birds settings; the learning rate halves every 50 epochs of ``examples``
    (Stage-II: every 100)."""
    batch, epochs = kw.get("batch_size", 64), 100 if kw.get("stage", 1) == 2 else 50
    return cls(data_shape=data_shape, lr_halve_every=max(1, epochs * examples // batch), **kw)

  @classmethod
  def shapes(cls, data_shape=(32, 32, 3), examples: int = 1440, **kw) -> "StackGANConfig":
    """The paper's settings with the narrower networks that fit the synthetic ``shapes`` on a CPU
    (those of benchmarks/text_to_image.py): Stage-I gf 32, df 32; Stage-II gf 32, df 16. The
    paper's widths (gf 128, df 64) are for 64 px birds: a Stage-I step of them on shapes took
    about 5 s on 2 CPU cores, against about 0.35 s for these. Stage-II's last block has gf / 4
    channels: at gf 16 those 4 channels left its output grey (std 0.04 after 400 steps, the RGB
    convolution still at its initial scale); gf 32 drew shapes within 300 steps."""
    widths = {"gf_dim": 32, "df_dim": 16} if kw.get("stage", 1) == 2 else {"gf_dim": 32, "df_dim": 32}
    return cls.paper(data_shape, examples, **{**widths, **kw})


@struct.dataclass
class StackGANState:
  step: jax.Array
  generator: Player
  discriminator: Player
  stage1: Any     # Stage-II: the fixed Stage-I generator's variables; None at Stage-I
  config: StackGANConfig = struct.field(pytree_node=False)
  stage1_config: StackGANConfig | None = struct.field(pytree_node=False, default=None)


def networks(config: StackGANConfig, axis_name: str | None = None):
  """(generator, discriminator) of the config's stage."""
  if config.stage == 1:
    generator = StageIGenerator(config.data_shape[0], config.gf_dim, config.c_dim, axis_name)
  else:
    generator = StageIIGenerator(config.gf_dim, config.c_dim, config.res_blocks, axis_name,
                                 config.stage1_residual)
  return generator, MatchingAwareDiscriminator(config.df_dim, config.e_dim, axis_name,
                                               config.unconditional_head)


def _stage1_images(state: StackGANState, z, emb, key, sample: bool = True, train: bool = False,
                   axis_name: str | None = None):
  """The fixed Stage-I generator's images, no gradient. ``train``: with the batch's statistics, as
  both official codes run it inside Stage-II's training (the statistics it would update are
  dropped: Stage-I stays as trained); otherwise with its running statistics (sampling)."""
  generator, _ = networks(state.stage1_config, axis_name)
  (images, _, _), _ = generator.apply(state.stage1, z, emb, train=train, sample=sample,
                                      rngs={"ca": key}, mutable=["batch_stats"] if train else [])
  return jax.lax.stop_gradient(images)


def optimizer(config: StackGANConfig) -> optax.GradientTransformation:
  lr = config.learning_rate
  if config.lr_halve_every:
    lr = optax.exponential_decay(lr, config.lr_halve_every, 0.5, staircase=True)
  return optax.adam(lr, b1=config.beta1)


def check_stage1(config: StackGANConfig, stage1_config: StackGANConfig | None) -> None:
  """Stage-II refines Stage-I 4x, on the same text embeddings."""
  if config.stage == 1:
    return
  if stage1_config is None or stage1_config.stage != 1:
    raise ValueError("Stage-II refines a trained Stage-I: pass its state (--stage1 DIR).")
  side = stage1_config.data_shape[0]
  if side * 4 != config.data_shape[0]:
    raise ValueError(f"Stage-II refines the {side} px Stage-I images 4x: pass --image-size "
                     f"{4 * side}.")
  if stage1_config.emb_dim != config.emb_dim:
    raise ValueError(f"Stage-II takes Stage-I's text embeddings ({stage1_config.emb_dim}), not "
                     f"{config.emb_dim}.")
  if stage1_config.z_dim != config.z_dim:  # the same z draws Stage-I's image and refines it
    raise ValueError(f"Stage-II draws Stage-I's noise: --z-dim {stage1_config.z_dim}, not "
                     f"{config.z_dim}.")


def init(key, config: StackGANConfig, stage1: StackGANState | None = None) -> StackGANState:
  """Fresh players; Stage-II keeps the trained Stage-I state's generator (``stage1``), fixed."""
  generator, discriminator = networks(config)
  k_g, k_d, k_ca = jax.random.split(key, 3)
  e = jnp.zeros((2, config.emb_dim))
  stage1_vars = stage1_config = None
  if config.stage == 1:
    g_input = jnp.zeros((2, config.z_dim))
  else:
    check_stage1(config, None if stage1 is None else stage1.config)
    stage1_vars = {"params": stage1.generator.params, "batch_stats": stage1.generator.batch_stats}
    stage1_config = stage1.config
    side = stage1_config.data_shape[0]
    g_input = jnp.zeros((2, side, side, 3))
  g_vars = generator.init({"params": k_g, "ca": k_ca}, g_input, e, train=False)
  d_vars = discriminator.init(k_d, jnp.zeros((2, *config.data_shape)), e, train=False)
  tx = optimizer(config)
  player = lambda v: Player(v["params"], v.get("batch_stats", {}), tx.init(v["params"]))
  return StackGANState(jnp.zeros((), jnp.int32), player(g_vars), player(d_vars), stage1_vars, config,
                       stage1_config)


def _fake(state: StackGANState, z, emb, key, params=None, axis_name: str | None = None):
  """((images, mu, log_sigma), generator batch statistics, the generator's input) in training
  mode; Stage-II refines the fixed Stage-I generator's image of the same z and text (its input)."""
  generator, _ = networks(state.config, axis_name)
  if state.config.stage == 1:
    return *_apply(generator, state.generator, z, emb, key=key, params=params), z
  k1, k2 = jax.random.split(key)
  stage1_images = _stage1_images(state, z, emb, k1, train=state.config.stage1_batch_statistics,
                                 axis_name=axis_name)
  return *_apply(generator, state.generator, stage1_images, emb, key=k2, params=params), stage1_images


def _mismatched(emb, axis_name: str | None = None):
  """Each example's text moved to the next example of the global batch (the mismatched pairs)."""
  if axis_name is None:
    return jnp.roll(emb, 1, axis=0)
  everyone = jax.lax.all_gather(emb, axis_name, tiled=True)
  return device_slice(jnp.roll(everyone, 1, axis=0), emb.shape[0], axis_name)


def _apply(module, player: Player, *inputs, key=None, params=None, batch_stats=None, **kw):
  """Train-mode forward pass; returns (output, updated batch statistics)."""
  variables = {"params": player.params if params is None else params,
               "batch_stats": player.batch_stats if batch_stats is None else batch_stats}
  rngs = {} if key is None else {"ca": key}
  out, mutated = module.apply(variables, *inputs, train=True, rngs=rngs, mutable=["batch_stats"], **kw)
  return out, mutated["batch_stats"]


def discriminator_step(state: StackGANState, batch: dict, key, axis_name: str | None = None):
  """One Adam step on real + (mismatched + fake) / 2 (with the unconditional head: (real + real
  unconditional) / 2 + (mismatched + fake + fake unconditional) / 3). ``batch``: images ``x`` in
  [-1, 1] and their text embeddings ``emb``; the mismatched pairs put each image with the next
  one's text. With ``diff_augment`` the discriminator judges the real and the generated images
  through :func:`diff_augment` (so does the generator step)."""
  c = state.config
  _, discriminator = networks(c, axis_name)
  k_z, k_ca = jax.random.split(key)
  emb = batch["emb"]
  z = common.sample_noise(k_z, emb.shape[0], c.z_dim, "normal", axis_name)
  (fake, _, _), _, _ = _fake(state, z, emb, k_ca, axis_name=axis_name)
  fake, x = jax.lax.stop_gradient(fake), batch["x"]
  if c.diff_augment:  # a key of its own, so the draws without it stay as they were
    k_real, k_fake = jax.random.split(jax.random.fold_in(key, 1))
    x, fake = diff_augment(k_real, x, axis_name), diff_augment(k_fake, fake, axis_name)
  d = state.discriminator

  def loss_fn(params):
    (real, real_u), stats = _apply(discriminator, d, x, emb, params=params)
    (wrong, _), stats = _apply(discriminator, d, x, _mismatched(emb, axis_name),
                               params=params, batch_stats=stats)
    (fake_logits, fake_u), stats = _apply(discriminator, d, fake, emb, params=params,
                                          batch_stats=stats)
    loss = losses.matching_aware_discriminator_loss(real, wrong, fake_logits, real_u, fake_u)
    metrics = {"d_loss": loss, "d_real": jnp.mean(jax.nn.sigmoid(real)),
               "d_wrong": jnp.mean(jax.nn.sigmoid(wrong)),
               "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits))}
    return loss, (stats, metrics)

  grads, (stats, metrics) = jax.grad(loss_fn, has_aux=True)(d.params)
  new_d = common.update(d, optimizer(c), grads, common.pmean(stats, axis_name), axis_name)
  return state.replace(discriminator=new_d), common.pmean(metrics, axis_name)


def generator_step(state: StackGANState, batch: dict, key, axis_name: str | None = None):
  """One Adam step on -log D(G(z, c), text) + lambda KL(N(mu, sigma^2) || N(0, I)) (with the
  unconditional head, its -log D(G(z, c)) is added, as the PyTorch code does; with
  ``colour_consistency``, that weight times StackGAN++'s colour consistency of the Stage-II image
  with its Stage-I image; with ``stage1_consistency``, that weight times the L1 distance of the
  Stage-II image average-pooled to the Stage-I size to the Stage-I image, a super-resolution
  content loss: Stage-II keeps what Stage-I drew and adds the detail)."""
  c = state.config
  _, discriminator = networks(c, axis_name)
  k_z, k_ca = jax.random.split(key)
  emb = batch["emb"]
  z = common.sample_noise(k_z, emb.shape[0], c.z_dim, "normal", axis_name)

  def loss_fn(params):
    (fake, mu, log_sigma), stats, g_input = _fake(state, z, emb, k_ca, params, axis_name)
    judged = diff_augment(jax.random.fold_in(key, 1), fake, axis_name) if c.diff_augment else fake
    (logits, unconditional), _ = _apply(discriminator, state.discriminator, judged, emb)
    adversarial = losses.generator_loss_non_saturating(logits)
    if unconditional is not None:
      adversarial += losses.generator_loss_non_saturating(unconditional)
    kl = losses.conditioning_kl(mu, log_sigma)
    loss, metrics = adversarial + c.kl_weight * kl, {"g_loss": adversarial, "kl": kl}
    if c.colour_consistency:  # Stage-II only (the config checks): g_input is the Stage-I image
      metrics["colour_consistency"] = losses.colour_consistency(fake, g_input)
      loss += c.colour_consistency * metrics["colour_consistency"]
    if c.stage1_consistency:
      metrics["stage1_consistency"] = losses.pooled_l1(fake, g_input)
      loss += c.stage1_consistency * metrics["stage1_consistency"]
    return loss, (stats, metrics)

  grads, (stats, metrics) = jax.grad(loss_fn, has_aux=True)(state.generator.params)
  new_g = common.update(state.generator, optimizer(c), grads, common.pmean(stats, axis_name),
                        axis_name)
  return state.replace(generator=new_g, step=state.step + 1), common.pmean(metrics, axis_name)


CROP_SCALE = 76 / 64  # both official codes load images at 76/64 of the size and crop at random


def random_crop(key, x, scale: float = CROP_SCALE, axis_name: str | None = None):
  """Each image [B, S, S, C] up-sampled (bilinear) to round(scale S) and cropped back to S x S at
  a uniform random offset (the offsets drawn for the global batch). The official codes resize
  the full-resolution photograph instead; shapes are drawn at the training size."""
  n, side, _, channels = x.shape
  big = round(side * scale)
  up = jax.image.resize(x, (n, big, big, channels), "bilinear")
  offsets = jax.random.randint(key, (n * num_devices(axis_name), 2), 0, big - side + 1)
  crop = lambda image, o: jax.lax.dynamic_slice(image, (o[0], o[1], 0), (side, side, channels))
  return jax.vmap(crop)(up, device_slice(offsets, n, axis_name))


def translate(key, x, ratio: float = 1 / 8, axis_name: str | None = None):
  """DiffAugment's translation (Zhao et al. 2020): each image [B, H, W, C] shifted by a whole
  number of pixels drawn uniformly in [-r, r] per axis, r = ratio x side (rounded), zeros shifted
  in; differentiable in ``x`` (the shifts drawn for the global batch)."""
  n, h, w, channels = x.shape
  rh, rw = int(h * ratio + 0.5), int(w * ratio + 0.5)
  shifts = jax.random.randint(key, (n * num_devices(axis_name), 2), jnp.array([-rh, -rw]),
                              jnp.array([rh + 1, rw + 1]))
  padded = jnp.pad(x, ((0, 0), (rh, rh), (rw, rw), (0, 0)))
  # out[i, j] = x[i - dy, j - dx]: the window starts r - d into the padded image
  crop = lambda image, d: jax.lax.dynamic_slice(image, (rh - d[0], rw - d[1], 0), (h, w, channels))
  return jax.vmap(crop)(padded, device_slice(shifts, n, axis_name))


def cutout(key, x, ratio: float = 1 / 2, axis_name: str | None = None):
  """DiffAugment's cutout (DeVries & Taylor 2017 as Zhao et al. 2020 draw it): each image
  [B, H, W, C] with a square of ratio x side (rounded) set to zero, its centre drawn uniformly
  over the image (the square clipped at the border); differentiable in ``x``."""
  n, h, w, _ = x.shape
  size = jnp.array([int(h * ratio + 0.5), int(w * ratio + 0.5)])
  centres = jax.random.randint(key, (n * num_devices(axis_name), 2), 0,
                               jnp.array([h, w]) + 1 - size % 2)
  start = device_slice(centres, n, axis_name) - size // 2
  inside = lambda length, axis: ((jnp.arange(length) >= start[:, axis, None])
                                 & (jnp.arange(length) < start[:, axis, None] + size[axis]))
  cut = inside(h, 0)[:, :, None] & inside(w, 1)[:, None, :]
  return jnp.where(cut[..., None], 0.0, x)


def diff_augment(key, x, axis_name: str | None = None):
  """DiffAugment's translation then cutout (Zhao et al. 2020, policy "translation,cutout"; its
  colour transforms are left out, as they would change the colours the text names). The
  discriminator sees every image, real and generated, through it, so it memorises a small
  training set less; the generator's gradient flows through it."""
  k_translate, k_cutout = jax.random.split(key)
  return cutout(k_cutout, translate(k_translate, x, axis_name=axis_name), axis_name=axis_name)


def draw_batch(data: dict, key, batch_size: int, captions_per_image: int,
               axis_name: str | None = None, crop: bool = False) -> dict:
  """``batch_size`` images with the mean embedding of ``captions_per_image`` of their captions
  (drawn with replacement); ``crop``: the images through :func:`random_crop`."""
  k_img, k_cap = jax.random.split(key)
  idx = common.draw_indices(k_img, data["x"].shape[0], batch_size, axis_name)
  pick = device_slice(jax.random.randint(k_cap, (batch_size, captions_per_image), 0,
                                         data["emb"].shape[1]), idx.shape[0], axis_name)
  x = common.to_float(data["x"][idx])
  if crop:  # a key of its own, so the draws without it stay as they were
    x = random_crop(jax.random.fold_in(key, 2), x, axis_name=axis_name)
  return {"x": x, "emb": jnp.mean(data["emb"][idx[:, None], pick], axis=1)}


def train_step(state: StackGANState, data: dict, key, axis_name: str | None = None):
  """One discriminator step, then one generator step, on a batch drawn inside jit."""
  c = state.config
  k_batch, k_d, k_g = jax.random.split(key, 3)
  batch = draw_batch(data, k_batch, c.batch_size, c.captions_per_image, axis_name, c.crop_augment)
  state, d_metrics = discriminator_step(state, batch, k_d, axis_name)
  state, g_metrics = generator_step(state, batch, k_g, axis_name)
  return state, {**d_metrics, **g_metrics}


def generate(state: StackGANState, key, embeddings, sample_condition: bool = True,
             z=None) -> jax.Array:
  """Images from text embeddings [N, emb_dim] (evaluation mode: running batch statistics); one
  noise vector (unless ``z`` [N, z_dim] is given) and one conditioning draw per row
  (``sample_condition=False``: c = mu)."""
  c = state.config
  generator, _ = networks(c)
  k_z, k_ca, k_ca2 = jax.random.split(key, 3)
  if z is None:
    z = common.sample_noise(k_z, embeddings.shape[0], c.z_dim, "normal")
  if c.stage == 1:
    g_input = z
  else:  # the very images Stage-I's generate gives for this key; Stage-II's own draw is another
    g_input, k_ca = _stage1_images(state, z, embeddings, k_ca, sample_condition), k_ca2
  variables = {"params": state.generator.params, "batch_stats": state.generator.batch_stats}
  images, _, _ = generator.apply(variables, g_input, embeddings, train=False,
                                 sample=sample_condition, rngs={"ca": k_ca})
  return images
