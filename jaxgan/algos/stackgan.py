"""StackGAN (Zhang et al. ICCV 2017). Stage-I: text embedding -> conditioning augmentation -> a
low-resolution image, against a matching-aware discriminator. Stage-II (``stage=2``): the trained
Stage-I generator, fixed (evaluation mode), draws a low-resolution image; a second generator with
its own conditioning augmentation refines it to 4x the side, against a matching-aware
discriminator at that resolution.

    state = init(key, config)
    data = device_data(dataset.train, config)         # images + every caption's text embedding
    state, metrics = discriminator_step(state, batch, key)
    state, metrics = generator_step(state, batch, key)
    state, metrics = train_step(state, data, key)     # one of each, batch drawn inside jit
    images = generate(state, key, embeddings)         # [N, S, S, 3] in [-1, 1]

The text embeddings come from a trained text encoder (``jaxgan train text-encoder``, a run
directory named by ``config.text_encoder``), computed once for every caption; a training example's
embedding is the mean of ``captions_per_image`` of its captions' embeddings (the TensorFlow code
averages 4). Paper preset (the official code, birds): z 100, c 128, Adam 2e-4 with beta1 0.5 for
both players, batch 64, the KL term weighted 2.0 (the TensorFlow code; the PyTorch code uses 1.0)
and the learning rate halved every 50 epochs of the 600 (Stage-II: every 100).
"""

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxgan import losses
from jaxgan.algos import common
from jaxgan.algos.common import Player
from jaxgan.nets.stackgan import (MatchingAwareDiscriminator, StageIGenerator, StageIIGenerator,
                                  check_stackgan_shape)


@dataclasses.dataclass(frozen=True)
class StackGANConfig:
  data_shape: tuple[int, ...] = (64, 64, 3)
  stage: int = 1
  stage1: str = ""                # Stage-II: run directory of the trained Stage-I
  res_blocks: int = 4             # Stage-II generator's residual blocks
  text_encoder: str = ""          # run directory of the text encoder whose embeddings condition
  emb_dim: int = 1024             # size of the text embedding (the text encoder's)
  z_dim: int = 100
  c_dim: int = 128                # conditioning augmentation output (mu and log sigma: 128 each)
  gf_dim: int = 128               # the generator's 4x4 layer has 8 gf_dim channels
  df_dim: int = 64
  e_dim: int = 128                # the discriminator's compressed text embedding
  kl_weight: float = 2.0          # lambda (TensorFlow code 2.0)
  batch_size: int = 64
  learning_rate: float = 2e-4
  beta1: float = 0.5
  lr_halve_every: int = 0         # generator iterations between halvings (0: never)
  captions_per_image: int = 4     # embeddings averaged per training example

  def __post_init__(self):
    check_stackgan_shape(self.data_shape)
    if self.stage not in (1, 2):
      raise ValueError(f"stage must be 1 or 2, got {self.stage}.")
    if self.stage == 1 and self.data_shape[0] > 64:
      raise ValueError(f"Stage-I generates 32x32 or 64x64 images, got {self.data_shape[0]}; "
                       "Stage-II up-samples 4x.")
    if self.stage == 2 and self.data_shape[0] < 128:
      raise ValueError(f"Stage-II generates 4x the Stage-I side (128 or 256), got {self.data_shape[0]}.")
    if self.stage == 2 and not self.stage1:
      raise ValueError("Stage-II refines a trained Stage-I: pass --stage1 DIR.")
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


@struct.dataclass
class StackGANState:
  step: jax.Array
  generator: Player
  discriminator: Player
  stage1: Any     # Stage-II: the fixed Stage-I generator's variables; None at Stage-I
  config: StackGANConfig = struct.field(pytree_node=False)


def networks(config: StackGANConfig, axis_name: str | None = None):
  """(generator, discriminator) of the config's stage."""
  if config.stage == 1:
    generator = StageIGenerator(config.data_shape[0], config.gf_dim, config.c_dim, axis_name)
  else:
    generator = StageIIGenerator(config.gf_dim, config.c_dim, config.res_blocks, axis_name)
  return generator, MatchingAwareDiscriminator(config.df_dim, config.e_dim, axis_name)


@functools.cache
def load_stage1(path: str) -> "StackGANState":
  """The trained Stage-I state of the run directory ``path``."""
  from jaxgan import train as train_lib  # the loop imports this module

  run, config = train_lib.load_run_config(path)
  if run.method != "stackgan" or config.stage != 1:
    raise ValueError(f"{path} is not a StackGAN Stage-I run.")
  return train_lib.restore_state(path)[2]


def _stage1_images(state: "StackGANState", z, emb, key, sample: bool = True):
  """The fixed Stage-I generator's images (evaluation mode), no gradient."""
  s1 = load_stage1(state.config.stage1)
  generator, _ = networks(s1.config)
  images, _, _ = generator.apply(state.stage1, z, emb, train=False, sample=sample,
                                 rngs={"ca": key})
  return jax.lax.stop_gradient(images)


def optimizer(config: StackGANConfig) -> optax.GradientTransformation:
  lr = config.learning_rate
  if config.lr_halve_every:
    lr = optax.exponential_decay(lr, config.lr_halve_every, 0.5, staircase=True)
  return optax.adam(lr, b1=config.beta1)


def init(key, config: StackGANConfig) -> StackGANState:
  """Fresh players; Stage-II also loads the trained Stage-I generator (``config.stage1``)."""
  generator, discriminator = networks(config)
  k_g, k_d, k_ca = jax.random.split(key, 3)
  e = jnp.zeros((2, config.emb_dim))
  stage1 = None
  if config.stage == 1:
    g_input = jnp.zeros((2, config.z_dim))
  else:
    s1 = load_stage1(config.stage1)
    if s1.config.data_shape[0] * 4 != config.data_shape[0] or s1.config.emb_dim != config.emb_dim:
      raise ValueError(f"Stage-II at {config.data_shape[0]} px refines {s1.config.data_shape[0]} px "
                       f"Stage-I images 4x: train it at --image-size {4 * s1.config.data_shape[0]}.")
    stage1 = {"params": s1.generator.params, "batch_stats": s1.generator.batch_stats}
    side = s1.config.data_shape[0]
    g_input = jnp.zeros((2, side, side, 3))
  g_vars = generator.init({"params": k_g, "ca": k_ca}, g_input, e, train=False)
  d_vars = discriminator.init(k_d, jnp.zeros((2, *config.data_shape)), e, train=False)
  tx = optimizer(config)
  player = lambda v: Player(v["params"], v.get("batch_stats", {}), tx.init(v["params"]))
  return StackGANState(jnp.zeros((), jnp.int32), player(g_vars), player(d_vars), stage1, config)


def _fake(state: StackGANState, z, emb, key, params=None):
  """((images, mu, log_sigma), generator batch statistics) in training mode; Stage-II refines the
  fixed Stage-I generator's image of the same z and text."""
  generator, _ = networks(state.config)
  if state.config.stage == 1:
    return _apply(generator, state.generator, z, emb, key=key, params=params)
  k1, k2 = jax.random.split(key)
  return _apply(generator, state.generator, _stage1_images(state, z, emb, k1), emb, key=k2,
                params=params)


def _apply(module, player: Player, *inputs, key=None, params=None, batch_stats=None, **kw):
  """Train-mode forward pass; returns (output, updated batch statistics)."""
  variables = {"params": player.params if params is None else params,
               "batch_stats": player.batch_stats if batch_stats is None else batch_stats}
  rngs = {} if key is None else {"ca": key}
  out, mutated = module.apply(variables, *inputs, train=True, rngs=rngs, mutable=["batch_stats"], **kw)
  return out, mutated["batch_stats"]


def discriminator_step(state: StackGANState, batch: dict, key, axis_name: str | None = None):
  """One Adam step on real + (mismatched + fake) / 2. ``batch``: images ``x`` in [-1, 1] and
  their text embeddings ``emb``; the mismatched pairs put each image with the next one's text."""
  c = state.config
  _, discriminator = networks(c, axis_name)
  k_z, k_ca = jax.random.split(key)
  emb = batch["emb"]
  z = common.sample_noise(k_z, emb.shape[0], c.z_dim, "normal", axis_name)
  (fake, _, _), _ = _fake(state, z, emb, k_ca)
  fake = jax.lax.stop_gradient(fake)
  d = state.discriminator

  def loss_fn(params):
    real, stats = _apply(discriminator, d, batch["x"], emb, params=params)
    wrong, stats = _apply(discriminator, d, batch["x"], jnp.roll(emb, 1, axis=0), params=params,
                          batch_stats=stats)
    fake_logits, stats = _apply(discriminator, d, fake, emb, params=params, batch_stats=stats)
    loss = losses.matching_aware_discriminator_loss(real, wrong, fake_logits)
    metrics = {"d_loss": loss, "d_real": jnp.mean(jax.nn.sigmoid(real)),
               "d_wrong": jnp.mean(jax.nn.sigmoid(wrong)),
               "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits))}
    return loss, (stats, metrics)

  grads, (stats, metrics) = jax.grad(loss_fn, has_aux=True)(d.params)
  new_d = common.update(d, optimizer(c), grads, common.pmean(stats, axis_name), axis_name)
  return state.replace(discriminator=new_d), common.pmean(metrics, axis_name)


def generator_step(state: StackGANState, batch: dict, key, axis_name: str | None = None):
  """One Adam step on -log D(G(z, c), text) + lambda KL(N(mu, sigma^2) || N(0, I))."""
  c = state.config
  _, discriminator = networks(c, axis_name)
  k_z, k_ca = jax.random.split(key)
  emb = batch["emb"]
  z = common.sample_noise(k_z, emb.shape[0], c.z_dim, "normal", axis_name)

  def loss_fn(params):
    (fake, mu, log_sigma), stats = _fake(state, z, emb, k_ca, params)
    logits, _ = _apply(discriminator, state.discriminator, fake, emb)
    adversarial = losses.generator_loss_non_saturating(logits)
    kl = losses.conditioning_kl(mu, log_sigma)
    return adversarial + c.kl_weight * kl, (stats, {"g_loss": adversarial, "kl": kl})

  grads, (stats, metrics) = jax.grad(loss_fn, has_aux=True)(state.generator.params)
  new_g = common.update(state.generator, optimizer(c), grads, common.pmean(stats, axis_name),
                        axis_name)
  return state.replace(generator=new_g, step=state.step + 1), common.pmean(metrics, axis_name)


def draw_batch(data: dict, key, batch_size: int, captions_per_image: int,
               axis_name: str | None = None) -> dict:
  """``batch_size`` images with the mean embedding of ``captions_per_image`` of their captions
  (drawn with replacement)."""
  k_img, k_cap = jax.random.split(key)
  idx = common.draw_indices(k_img, data["x"].shape[0], batch_size, axis_name)
  pick = jax.random.randint(k_cap, (idx.shape[0], captions_per_image), 0, data["emb"].shape[1])
  return {"x": common.to_float(data["x"][idx]),
          "emb": jnp.mean(data["emb"][idx[:, None], pick], axis=1)}


def train_step(state: StackGANState, data: dict, key, axis_name: str | None = None):
  """One discriminator step, then one generator step, on a batch drawn inside jit."""
  c = state.config
  k_batch, k_d, k_g = jax.random.split(key, 3)
  batch = draw_batch(data, k_batch, c.batch_size, c.captions_per_image, axis_name)
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


# ---- the text encoder's embeddings, figures and evaluation --------------------------------------


@functools.cache
def load_text_encoder(path: str):
  """The trained text encoder state of the run directory ``path``."""
  from jaxgan import train as train_lib  # the loop imports this module

  if not path:
    raise ValueError("StackGAN is conditioned on a trained text encoder: train one with `jaxgan "
                     "train text-encoder --dataset ... --out DIR` and pass --text-encoder DIR.")
  run, _ = train_lib.load_run_config(path)
  if run.method != "text-encoder":
    raise ValueError(f"{path} holds a {run.method} run, not a text encoder.")
  return train_lib.restore_state(path)[2]


def embed_captions(config: StackGANConfig, captions) -> np.ndarray:
  """Text embeddings [..., emb_dim] of an array of caption strings, by the config's encoder."""
  from jaxgan.algos import text_encoder

  encoder = load_text_encoder(config.text_encoder)
  arr = np.asarray(captions, object)
  flat = text_encoder.embed_text(encoder, text_encoder.encode(encoder, arr.ravel()))
  return flat.reshape(*arr.shape, -1).astype(np.float32)


def device_data(split, config: StackGANConfig) -> dict:
  """uint8 images and the text embedding of each of their captions [N, K, emb_dim]."""
  if split.captions is None:
    raise ValueError("StackGAN trains on captioned images: use --dataset shapes or folder:ROOT.")
  return {"x": split.x, "emb": embed_captions(config, split.captions)}


@functools.partial(jax.jit, static_argnums=3)
def _generate(state, key, embeddings, sample_condition):
  return generate(state, key, embeddings, sample_condition)


def class_match_accuracy(state: StackGANState, split, generated, emb) -> dict:
  """How often an image generated from a held-out caption is assigned that caption's class by the
  text encoder's joint embedding (zero-shot, among the split's classes), against the same for the
  real images: a text-image consistency score (R-precision-like) in the text encoder's space.
  ``generated``: one image per example of ``split``, in [-1, 1], from its first caption; ``emb``:
  the text embeddings of all of ``split``'s captions [N, K, D]. Empty for a text encoder trained
  on fixed image features: it has no image encoder to read generated images with."""
  from jaxgan.algos import text_encoder
  from jaxgan.metrics import retrieval

  encoder = load_text_encoder(state.config.text_encoder)
  if encoder.config.image_encoder == "fixed":
    return {}
  classes, class_text = retrieval.class_means(emb.mean(1), split.y)
  side = encoder.config.data_shape[0]  # the image encoder's resolution
  to_uint8 = lambda x: np.asarray(jax.image.resize(jnp.asarray(x, jnp.float32), (len(x), side, side, 3),
                                                   "linear").round().clip(0, 255).astype(jnp.uint8))
  fake = text_encoder.embed_images(encoder, to_uint8((np.asarray(generated) + 1.0) * 127.5))
  real = text_encoder.embed_images(encoder, to_uint8(split.x))
  return {"class_match_generated": retrieval.zero_shot_accuracy(fake, split.y, class_text, classes),
          "class_match_real": retrieval.zero_shot_accuracy(real, split.y, class_text, classes)}


def evaluate(state: StackGANState, dataset, key=None) -> dict:
  """On the test split (held-out classes), one image per test image from its first caption:
  class-match accuracy in the text encoder's space and, on ``shapes``, the attribute accuracy,
  Fréchet distance and Inception-style score of the attribute classifier."""
  split = dataset.test
  key = jax.random.key(0) if key is None else key
  emb = embed_captions(state.config, split.captions)  # every caption once: [N, K, D]
  generated = np.concatenate([np.asarray(_generate(state, jax.random.fold_in(key, i),
                                                   jnp.asarray(emb[i:i + 256, 0]), True))
                              for i in range(0, len(emb), 256)])
  out = class_match_accuracy(state, split, generated, emb)
  if split.attributes is not None:
    from jaxgan.metrics import attributes

    params, own = attributes.train_attribute_classifier()
    out.update(attributes.generated_image_metrics(params, generated, split.x, split.attributes))
    out["attribute_classifier_real_test_mean"] = own["mean"]
  return {f"test_{k}": v for k, v in out.items()}


def sample_figure(state: StackGANState, dataset, path: str, rows: int = 6, per_row: int = 8) -> None:
  """Rows of samples for test captions (one caption of a different class per row)."""
  from jaxgan import plots

  split = dataset.test
  first = [int(np.nonzero(split.y == c)[0][0]) for c in np.unique(split.y)[:rows]]
  texts = [split.captions[i, 0] for i in first]
  plots.captioned_rows([np.asarray(x) for x in caption_samples(state, texts, per_row)], texts, path)


def caption_samples(state: StackGANState, texts, n: int, key=None) -> np.ndarray:
  """[len(texts), n, S, S, 3] samples in [-1, 1] for each caption (new z and c per sample)."""
  key = jax.random.key(0) if key is None else key
  emb = np.repeat(embed_captions(state.config, list(texts)), n, axis=0)
  images = np.asarray(_generate(state, key, jnp.asarray(emb), True))
  return images.reshape(len(texts), n, *images.shape[1:])


def interpolate(state: StackGANState, text_a: str, text_b: str, steps: int = 8, key=None) -> np.ndarray:
  """[steps, S, S, 3]: one noise vector, the sentence embedding moved linearly from ``text_a`` to
  ``text_b`` (conditioning at its mean), as in the interpolation figures of the papers."""
  c = state.config
  key = jax.random.key(0) if key is None else key
  e_a, e_b = embed_captions(c, [text_a, text_b])
  alphas = np.linspace(0.0, 1.0, steps)[:, None]
  emb = jnp.asarray((1 - alphas) * e_a + alphas * e_b)
  z = jnp.broadcast_to(jax.random.normal(key, (1, c.z_dim)), (steps, c.z_dim))
  return np.asarray(generate(state, key, emb, sample_condition=False, z=z))
