"""StackGAN on the run layer and with its text encoder: the captions' embeddings, the class-match
and attribute evaluation, sample figures by caption, sentence interpolation, and ``METHOD``.

A StackGAN run builds on other runs: Stage-I on a trained text encoder (``--text-encoder DIR``),
Stage-II on a trained Stage-I (``--stage1 DIR``, whose text encoder it uses). Their run directories
are settings of the run; ``load`` restores their states once, and every function here takes the
text encoder's state (``encoder``) as an argument.
"""

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import program
from jaxgan.algos import common, text_encoder
from jaxgan.algos.stackgan import StackGANConfig, StackGANState, generate, init, train_step
from jaxrun import Method, devices


def device_data(split, encoder) -> dict:
  """uint8 images and the text embedding of each of their captions [N, K, emb_dim]."""
  if split.captions is None:
    raise ValueError("StackGAN trains on captioned images: use --dataset shapes or folder:ROOT.")
  return {"x": split.x, "emb": text_encoder.split_embeddings(encoder, split.captions)}


@functools.partial(jax.jit, static_argnums=3)
def _generate(state, key, embeddings, sample_condition, z=None):
  return generate(state, key, embeddings, sample_condition, z)


def class_match_accuracy(encoder, split, generated, emb) -> dict:
  """How often an image generated from a held-out caption is assigned that caption's class by the
  text encoder's joint embedding (zero-shot, among the split's classes), against the same for the
  real images: a text-image consistency score (R-precision-like) in the text encoder's space.
  ``generated``: one image per example of ``split``, in [-1, 1], from its first caption; ``emb``:
  the text embeddings of all of ``split``'s captions [N, K, D]. Empty for a text encoder trained
  on fixed image features: it has no image encoder to read generated images with."""
  from jaxgan.metrics import retrieval

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


def caption_images(state: StackGANState, emb, key=None) -> np.ndarray:
  """One image per row of text embeddings ``emb`` [N, D] (conditioning sampled), in batches, each
  batch's noise from ``key`` folded with its first row: the images :func:`evaluate` scores
  (default key 0)."""
  key = jax.random.key(0) if key is None else key
  draw = lambda i, e: _generate(state, jax.random.fold_in(key, i), jnp.asarray(e), True)
  return common.batched(draw, emb)


def evaluate(state: StackGANState, encoder, dataset, key=None) -> dict:
  """On the test split (held-out classes), one image per test image from its first caption:
  class-match accuracy in the text encoder's space and, on ``shapes``, the attribute accuracy,
  Fréchet distance and Inception-style score of the attribute classifier."""
  split = dataset.test
  emb = text_encoder.split_embeddings(encoder, split.captions)  # every caption once: [N, K, D]
  generated = caption_images(state, emb[:, 0], key)
  out = class_match_accuracy(encoder, split, generated, emb)
  if split.attributes is not None:
    from jaxgan.metrics import attributes

    params, own = attributes.train_attribute_classifier()
    out.update(attributes.generated_image_metrics(params, generated, split.x, split.attributes))
    out["attribute_classifier_real_test_mean"] = own["mean"]
  return {f"test_{k}": v for k, v in out.items()}


def caption_samples(state: StackGANState, encoder, texts, n: int, key=None) -> np.ndarray:
  """[len(texts), n, S, S, 3] samples in [-1, 1] for each caption (new z and c per sample)."""
  key = jax.random.key(0) if key is None else key
  emb = np.repeat(text_encoder.embed_captions(encoder, list(texts)), n, axis=0)
  images = np.asarray(_generate(state, key, jnp.asarray(emb), True))
  return images.reshape(len(texts), n, *images.shape[1:])


FIGURE_ROWS, FIGURE_PER_ROW = 6, 8


def sample_figure(state: StackGANState, encoder, dataset, path: str, rows: int = FIGURE_ROWS,
                  per_row: int = FIGURE_PER_ROW) -> None:
  """Rows of samples for test captions (one caption of a different class per row)."""
  from jaxrun import plots

  split = dataset.test
  first = [int(np.nonzero(split.y == c)[0][0]) for c in np.unique(split.y)[:rows]]
  texts = [split.captions[i, 0] for i in first]
  samples = caption_samples(state, encoder, texts, per_row)
  plots.captioned_rows([np.asarray(x) for x in samples], texts, path)


def interpolate(state: StackGANState, encoder, text_a: str, text_b: str, steps: int = 8,
                key=None) -> np.ndarray:
  """[steps, S, S, 3]: one noise vector, the sentence embedding moved linearly from ``text_a`` to
  ``text_b`` (conditioning at its mean), as in the interpolation figures of the papers."""
  c = state.config
  key = jax.random.key(0) if key is None else key
  e_a, e_b = text_encoder.embed_captions(encoder, [text_a, text_b])
  alphas = np.linspace(0.0, 1.0, steps)[:, None]
  emb = jnp.asarray((1 - alphas) * e_a + alphas * e_b)
  z = jnp.broadcast_to(jax.random.normal(key, (1, c.z_dim)), (steps, c.z_dim))
  return np.asarray(_generate(state, key, emb, False, z))


# ---- the run layer --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StackGANSettings(program.CaptionSettings):
  text_encoder: str = ""   # Stage-I: run directory of the trained text encoder (jaxgan train text-encoder)
  stage1: str = ""         # Stage-II: run directory of the trained Stage-I it refines (its text encoder is used)
  text_encoder_step: int | None = None  # Stage-I: the text encoder's checkpoint (default: its newest; recorded, so a resume uses the same)
  stage1_step: int | None = None        # Stage-II: Stage-I's checkpoint (default: its newest; recorded)


@dataclasses.dataclass(frozen=True)
class Context:
  dataset: Any
  encoder: Any                          # the text encoder's state
  stage1: StackGANState | None = None   # Stage-II: the trained Stage-I state


def _restore(path: str, method: Method, step: int | None):
  from jaxrun import run

  return run.reopen(path, method, step, load_context=False)[2]


def load(settings: StackGANSettings) -> Context:
  """The data, and the states of the runs this one builds on (at the recorded checkpoints). The
  runs are checked first: a wrong --stage1 or --text-encoder fails before the images are drawn
  (shapes at 128 px takes seconds)."""
  from jaxrun import files

  stage1 = None
  if settings.stage1:
    if settings.text_encoder:
      raise ValueError("Stage-II uses its Stage-I run's text encoder; drop --text-encoder.")
    record = files.RunDir(settings.stage1).read_record()
    if record["method"] != "stackgan" or record["config"]["stage"] != 1:
      raise ValueError(f"{settings.stage1} holds a {record['method']} run (stage "
                       f"{record['config'].get('stage', '-')}); --stage1 takes a StackGAN Stage-I run.")
    side = record["config"]["data_shape"][0]
    if settings.image_size is not None and settings.image_size != 4 * side:
      raise ValueError(f"Stage-II refines the {side} px Stage-I images 4x: pass --image-size {4 * side}.")
    stage1 = _restore(settings.stage1, METHOD, settings.stage1_step)
    encoder_dir, encoder_step = record["settings"]["text_encoder"], record["settings"]["text_encoder_step"]
  elif settings.text_encoder:
    encoder_dir, encoder_step = settings.text_encoder, settings.text_encoder_step
  else:
    raise ValueError("StackGAN is conditioned on a trained text encoder: train one with `jaxgan "
                     "train text-encoder --dataset ... --out DIR` and pass --text-encoder DIR.")
  encoder = _restore(encoder_dir, text_encoder.METHOD, encoder_step)
  return Context(program.load_captioned(settings, "StackGAN"), encoder, stage1)


def pin(settings: StackGANSettings, ctx: Context) -> StackGANSettings:
  """The checkpoints the run builds on, recorded: a resume loads the same ones."""
  if settings.stage1:
    return dataclasses.replace(settings, stage1_step=int(ctx.stage1.step))
  return dataclasses.replace(settings, text_encoder_step=int(ctx.encoder.step))


def configure(ctx: Context, settings, preset, overrides: dict, steps) -> StackGANConfig:
  stage = overrides.get("stage", 2 if settings.stage1 else 1)
  if stage == 2 and not settings.stage1:
    raise ValueError("Stage-II refines a trained Stage-I: pass --stage1 DIR.")
  if stage == 1 and settings.stage1:
    raise ValueError("--stage1 is the Stage-I run that Stage-II refines: pass --stage 2 with it.")
  if ctx.stage1 is not None and ctx.dataset.data_shape[0] != 4 * ctx.stage1.config.data_shape[0]:
    side = ctx.stage1.config.data_shape[0]
    raise ValueError(f"Stage-II refines the {side} px Stage-I images 4x: pass --image-size {4 * side}.")
  if ctx.stage1 is not None:  # Stage-II draws Stage-I's noise
    overrides = {"z_dim": ctx.stage1.config.z_dim, **overrides}
  overrides = {"emb_dim": ctx.encoder.config.emb_dim, **overrides, "stage": stage}
  return getattr(StackGANConfig, preset)(ctx.dataset.data_shape, len(ctx.dataset.train), **overrides)


def check(config: StackGANConfig, ctx: Context, settings) -> None:
  program.check_data_fits(config, ctx.dataset)  # (Stage-I against Stage-II: init checks it)


class StackGANProgram(program.StepProgram):
  def __init__(self, ctx: Context | None, settings, config, loop, out):
    ctx = Context(None, None) if ctx is None else ctx  # restoring a Stage-I state needs no context
    super().__init__(program.Steps(init, train_step), "stackgan", ctx.dataset, settings, config,
                     loop, out)
    self.encoder, self.stage1 = ctx.encoder, ctx.stage1

  def init(self):
    return jax.jit(init, static_argnums=1)(self.init_key, self.config, self.stage1)

  def device_data(self) -> dict:
    return device_data(self.dataset.train, self.encoder)

  def data_spec(self) -> dict:  # without embedding the captions: their chunk compiles meanwhile
    split = self.dataset.train
    return {"x": jax.ShapeDtypeStruct(split.x.shape, split.x.dtype), "emb": jax.ShapeDtypeStruct(
        (*split.captions.shape, self.encoder.config.emb_dim), jnp.float32)}

  def figure(self, state, path: str, key=None, n: int = 0) -> None:
    sample_figure(state, self.encoder, self.dataset, path)

  def evaluate(self, state, step, samples=None):
    return {}, evaluate(state, self.encoder, self.dataset)

  def precompile(self, state) -> None:
    """The evaluation's and the sample figure's programs (about 4 s of a first 32 px Stage-I run
    on 2 CPU cores), for the shapes :func:`evaluate` and :func:`sample_figure` call them with."""
    split, encoder = self.dataset.test, self.encoder.config
    state, key = devices.on_first_device(state), jax.random.key(0)
    rows = min(len(split), common.BATCH_ROWS)  # evaluate()'s batches (common.batched)
    figure = min(FIGURE_ROWS, len(np.unique(split.y))) * FIGURE_PER_ROW
    for n in {rows, figure}:
      _generate.lower(state, key, jax.ShapeDtypeStruct((n, encoder.emb_dim), jnp.float32),
                      True).compile()
    if encoder.image_encoder != "fixed":
      images = jax.ShapeDtypeStruct((rows, *encoder.data_shape[:2], 3), jnp.uint8)
      text_encoder._embed_images.lower(self.encoder.params, images, encoder).compile()

  def caption_samples(self, state, captions, n, key):
    return caption_samples(state, self.encoder, captions, n, key)

  def interpolate(self, state, text_a, text_b, steps, key):
    return interpolate(state, self.encoder, text_a, text_b, steps, key)


METHOD = Method(
    name="stackgan",
    summary="StackGAN Stage-I / Stage-II (Zhang et al. 2017) on a trained text encoder",
    config=StackGANConfig, settings=StackGANSettings, load=load, pin=pin, configure=configure,
    check=check,
    presets=("paper", "shapes"), derived=("data_shape", "emb_dim"),
    preset_for=lambda ctx, settings: "shapes" if settings.dataset == "shapes" else "paper",
    build=StackGANProgram, loop_defaults=program.loop_defaults, aliases={"learning_rate": ("--lr",)},
    default_out=program.default_out("stackgan"))
