"""The Reed et al. (CVPR 2016) text encoder: a char-CNN-RNN trained jointly with an image encoder
under the deep symmetric structured joint embedding loss; StackGAN's conditioning input.

    state = init(key, config)
    data = device_data(dataset.train)                  # images, encoded captions, class members
    state, metrics = train_step(state, data, key)      # one minibatch of distinct classes
    text_emb = embed_text(state, codes)                # [N, emb_dim]

A minibatch (Reed's loader) is ``classes_per_batch`` distinct training classes; for each, the mean
embedding of ``images_per_class`` of its images and of ``captions_per_class`` captions drawn from
its images (class-averaged embeddings). Reed's script: 40 classes, 5 captions, RMSProp (Torch:
alpha 0.99, eps 1e-8 outside the square root) at 4e-4 decayed by 0.98 every epoch, parameters
uniform in [-0.08, 0.08].

The image side is a small CNN trained jointly (``image_encoder="cnn"``), or, as in Reed's runs on
fixed GoogLeNet features, the images' fixed feature vectors themselves (``"fixed"``: the
compatibility is phi(t)^T v with v the feature vector, so ``emb_dim`` is the feature size and only
the text encoder learns).
"""

import dataclasses
import functools
import hashlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxgan import losses, program
from jaxgan.algos import common
from jaxgan.data import captions as captions_lib
from jaxgan.metrics import retrieval
from jaxgan.nets.text import CharCNNRNN, ImageEncoder
from jaxrun import Method


IMAGE_ENCODERS = ("cnn", "fixed")


@dataclasses.dataclass(frozen=True)
class TextEncoderConfig:
  data_shape: tuple[int, ...] = (64, 64, 3)  # the images' shape (H, W, C)
  emb_dim: int = 1024               # joint embedding size (StackGAN's text embedding)
  cnn_dim: int = 256                # the third temporal convolution's features (the RNN's input)
  conv_features: tuple[int, int] = (384, 512)  # the first two temporal convolutions' features
  image_width: int = 32             # the image encoder's first convolution
  max_length: int = captions_lib.MAX_LENGTH  # characters per caption (Reed: 201)
  classes_per_batch: int = 40       # distinct classes per minibatch
  images_per_class: int = 1         # images averaged per class in a minibatch
  captions_per_class: int = 5       # captions averaged per class in a minibatch
  learning_rate: float = 4e-4       # RMSProp
  lr_decay: float = 0.98            # multiplied in every decay_every steps (Reed: every epoch)
  decay_every: int = 100            # steps between decays (default: one epoch of the data)
  margin: float = 1.0               # the 0-1 class loss of the structured hinge
  image_encoder: str = "cnn"        # "cnn" (trained jointly) or "fixed" (the split's features)

  def __post_init__(self):
    if self.image_encoder not in IMAGE_ENCODERS:
      raise ValueError(f"image_encoder must be one of {IMAGE_ENCODERS}, got {self.image_encoder!r}.")
    for name in ("emb_dim", "cnn_dim", "image_width", "classes_per_batch", "images_per_class",
                 "captions_per_class", "decay_every"):
      common.check_positive(name, getattr(self, name))
    common.check_positive("learning_rate", self.learning_rate)
    common.check_positive("margin", self.margin)
    if self.classes_per_batch < 2:
      raise ValueError("classes_per_batch must be >= 2: the loss compares each class with the others.")
    if not 0.0 < self.lr_decay <= 1.0:
      raise ValueError(f"lr_decay must lie in (0, 1], got {self.lr_decay}.")
    if self.max_length < 39:
      raise ValueError(f"max_length must be >= 39 (three width-4 convolutions and two 3-pools), got "
                       f"{self.max_length}.")
    square = len(self.data_shape) == 3 and self.data_shape[0] == self.data_shape[1]
    side = self.data_shape[0]
    if self.image_encoder == "cnn" and not (square and side >= 8 and not side & (side - 1)):
      raise ValueError(f"the image encoder takes square images whose side is a power of 2 (>= 8), "
                       f"got {self.data_shape}.")


@struct.dataclass
class TextEncoderState:
  params: dict          # {"text": ..., "image": ...}
  opt_state: optax.OptState
  step: jax.Array
  config: TextEncoderConfig = struct.field(pytree_node=False)


def networks(config: TextEncoderConfig) -> tuple[CharCNNRNN, ImageEncoder]:
  return (CharCNNRNN(config.emb_dim, config.cnn_dim, tuple(config.conv_features)),
          ImageEncoder(config.emb_dim, config.image_width))


def optimizer(config: TextEncoderConfig) -> optax.GradientTransformation:
  lr = optax.exponential_decay(config.learning_rate, config.decay_every, config.lr_decay,
                               staircase=True)
  return optax.rmsprop(lr, decay=0.99, eps=1e-8, eps_in_sqrt=False)


def init(key, config: TextEncoderConfig) -> TextEncoderState:
  text_net, image_net = networks(config)
  k_text, k_image = jax.random.split(key)
  params = {"text": text_net.init(k_text, jnp.zeros((1, config.max_length), jnp.int32)),
            "image": ({} if config.image_encoder == "fixed" else
                      image_net.init(k_image, jnp.zeros((1, *config.data_shape))))}
  return TextEncoderState(params, optimizer(config).init(params), jnp.zeros((), jnp.int32), config)


def device_data(split, config: TextEncoderConfig) -> dict:
  """What ``train_step`` draws from: uint8 images (or fixed features), uint8-encoded captions
  [N, K, L], and for each class the indices of its images (padded) and their count."""
  if split.captions is None:
    raise ValueError("the text encoder trains on captioned images: use --dataset shapes or "
                     "folder:ROOT (Reed's CUB / Oxford-102 layout).")
  x = image_input(split, config)
  labels = np.asarray(split.y)
  classes = np.unique(labels)
  members = [np.nonzero(labels == c)[0] for c in classes]
  width = max(len(m) for m in members)
  padded = np.stack([np.pad(m, (0, width - len(m))) for m in members]).astype(np.int32)
  return {"x": x, "codes": captions_lib.encode_all(split.captions, config.max_length)
          .astype(np.uint8), "members": padded,
          "counts": np.array([len(m) for m in members], np.int32)}


def image_input(split, config: TextEncoderConfig) -> np.ndarray:
  """The split's images, or its fixed features [N, emb_dim] for ``image_encoder="fixed"``."""
  if config.image_encoder == "cnn":
    return split.x
  if split.features is None:
    raise ValueError("image_encoder 'fixed' embeds each image by its fixed feature vector and this "
                     "data set has none: put them in ROOT/features/CLASS/STEM.npy of a folder:ROOT "
                     "data set, or use --image-encoder cnn.")
  if split.features.shape[1:] != (config.emb_dim,):
    raise ValueError(f"with image_encoder 'fixed' the embedding is the feature vector itself: the "
                     f"features have {split.features.shape[1]} dimensions, so emb_dim must be "
                     f"{split.features.shape[1]}, not {config.emb_dim}.")
  return split.features.astype(np.float32)


def embed(params, config: TextEncoderConfig, images, codes) -> tuple[jax.Array, jax.Array]:
  """(image embeddings, text embeddings) of float images in [-1, 1] (or fixed features) and
  caption codes."""
  text_net, image_net = networks(config)
  v = images if config.image_encoder == "fixed" else image_net.apply(params["image"], images)
  return v, text_net.apply(params["text"], codes)


def draw_batch(data: dict, key, config: TextEncoderConfig) -> dict:
  """``classes_per_batch`` distinct classes (all of them when there are fewer), with images and
  captions of each: images [B, I, S, S, C] float, codes [B, K, L]."""
  num_classes = data["counts"].shape[0]
  b = min(config.classes_per_batch, num_classes)
  k_cls, k_img, k_cap, k_line = jax.random.split(key, 4)
  cls = jax.random.permutation(k_cls, num_classes)[:b]
  counts = data["counts"][cls][:, None]

  def members(k, n):
    pick = jax.random.randint(k, (b, n), 0, counts)
    return data["members"][cls[:, None], pick]

  images = common.to_float(data["x"][members(k_img, config.images_per_class)])
  cap_images = members(k_cap, config.captions_per_class)
  lines = jax.random.randint(k_line, cap_images.shape, 0, data["codes"].shape[1])
  return {"images": images, "codes": data["codes"][cap_images, lines]}


def loss_fn(params, batch: dict, config: TextEncoderConfig):
  b, i = batch["images"].shape[:2]
  k, length = batch["codes"].shape[1:]
  v, t = embed(params, config, batch["images"].reshape(b * i, *batch["images"].shape[2:]),
               batch["codes"].reshape(b * k, length))
  v, t = v.reshape(b, i, -1).mean(1), t.reshape(b, k, -1).mean(1)  # class-averaged
  loss = losses.sje_loss(v, t, config.margin)
  accuracy = jnp.mean(jnp.argmax(v @ t.T, axis=1) == jnp.arange(b))
  return loss, accuracy


def train_step(state: TextEncoderState, data: dict, key, axis_name: str | None = None):
  """One RMSProp step on a minibatch of distinct classes; metrics: the loss and the batch's
  image -> class accuracy."""
  if axis_name is not None:
    raise ValueError("the text encoder trains on one device (--devices 1).")
  c = state.config
  (loss, acc), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state.params, draw_batch(data, key, c), c)
  updates, opt_state = optimizer(c).update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  return state.replace(params=params, opt_state=opt_state, step=state.step + 1), {
      "loss": loss, "batch_accuracy": acc}


@functools.partial(jax.jit, static_argnums=2)
def _embed_text(params, codes, config):
  return networks(config)[0].apply(params["text"], codes)


@functools.partial(jax.jit, static_argnums=2)
def _embed_images(params, images, config):
  x = common.to_float(images)
  return x if config.image_encoder == "fixed" else networks(config)[1].apply(params["image"], x)


def embed_text(state: TextEncoderState, codes) -> np.ndarray:
  """Embeddings [N, emb_dim] of encoded captions [N, L] (see :func:`encode`)."""
  return common.batched(lambda _, c: _embed_text(state.params, jnp.asarray(c), state.config),
                        np.asarray(codes))


def embed_images(state: TextEncoderState, images) -> np.ndarray:
  """Embeddings [N, emb_dim] of uint8 images [N, S, S, C] (fixed features [N, emb_dim] for
  ``image_encoder="fixed"``)."""
  return common.batched(lambda _, x: _embed_images(state.params, jnp.asarray(x), state.config),
                        np.asarray(images))


def encode(state: TextEncoderState, captions) -> np.ndarray:
  """Caption strings -> codes [N, max_length] (errors for empty captions or characters outside the
  alphabet; longer captions truncated)."""
  return captions_lib.encode_all(list(captions), state.config.max_length)


def embed_captions(state: TextEncoderState, captions) -> np.ndarray:
  """Text embeddings [..., emb_dim] of an array of caption strings."""
  arr = np.asarray(captions, object)
  flat = embed_text(state, encode(state, arr.ravel()))
  return flat.reshape(*arr.shape, -1).astype(np.float32)


def split_embeddings(state: TextEncoderState, captions, cache: bool = True) -> np.ndarray:
  """``embed_captions`` of a split's captions [N, K], kept in the user's cache (``cache``) under a
  digest of the encoder (its config and parameters), of the captions and of the JAX version and
  backend that computed them (as the attribute classifier's cache). Embedding the 14,400 training
  captions of shapes took 34-40 s of every Stage-I run on 2 CPU cores; they depend on nothing
  else, so a run of the same encoder on the same data reads them back (bitwise the same), and a
  Stage-I run reads the test captions' embeddings its text encoder's final evaluation made. The
  official StackGAN code likewise reads precomputed char-CNN-RNN embeddings."""
  from jaxrun import files

  captions = np.asarray(captions, object)
  make = lambda: {"emb": embed_captions(state, captions)}
  if not cache:
    return make()["emb"]
  digest = hashlib.sha256(f"{state.config!r} jax{jax.__version__}-{jax.default_backend()}".encode())
  for leaf in jax.tree.leaves(state.params):
    digest.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
  digest.update(repr(captions.shape).encode() + "\n".join(captions.ravel()).encode())
  name = f"caption-embeddings-{digest.hexdigest()[:24]}.msgpack"
  template = {"emb": np.zeros((*captions.shape, state.config.emb_dim), np.float32)}
  return np.asarray(files.cached_tree(files.user_cache(name), template, make, must_write=False)["emb"])


def evaluate_split(state: TextEncoderState, split, k: int = 50, cache: bool = False) -> dict:
  """Zero-shot top-1 accuracy and AP@k on ``split``'s classes, each class represented by the mean
  embedding of all its captions (kept in the user's cache with ``cache``: see
  :func:`split_embeddings`)."""
  text = split_embeddings(state, split.captions, cache).mean(1)
  classes, class_text = retrieval.class_means(text, np.asarray(split.y))
  images = embed_images(state, image_input(split, state.config))
  return {"zero_shot_top1": retrieval.zero_shot_accuracy(images, split.y, class_text, classes),
          f"ap_at_{k}": retrieval.average_precision_at_k(images, split.y, class_text, classes, k)}


def evaluate(state: TextEncoderState, dataset, cache: bool = False) -> dict:
  """Zero-shot top-1 accuracy and retrieval AP@50 on the held-out validation and test classes
  (``cache``: their caption embeddings kept, see :func:`split_embeddings`)."""
  out = {}
  for name, split in (("validation", dataset.validation), ("test", dataset.test)):
    out.update({f"{name}_{k}": v for k, v in evaluate_split(state, split, cache=cache).items()})
  return out


def sample_figure(state: TextEncoderState, dataset, path: str, queries: int = 6, top: int = 8) -> None:
  """Retrieval on the test classes: each row is one caption (of a different class) and the
  ``top`` test images its embedding scores highest, framed green where the class matches."""
  from jaxrun import plots

  split = dataset.test
  classes = np.unique(split.y)[:queries]
  first = [int(np.nonzero(split.y == c)[0][0]) for c in classes]
  texts = [split.captions[i, 0] for i in first]
  images = embed_images(state, image_input(split, state.config))
  scores = embed_text(state, encode(state, texts)) @ images.T
  ranked = [np.argsort(-s)[:top] for s in scores]
  plots.captioned_rows([split.x[r] for r in ranked], texts, path,
                       [["tab:green" if split.y[j] == c else "tab:red" for j in r]
                        for r, c in zip(ranked, classes)])


# ---- the run layer --------------------------------------------------------------------------------


def configure(dataset, settings, preset, overrides: dict, steps) -> TextEncoderConfig:
  """Reed's settings for ``dataset``: the image side's resolution, fixed features' size, and the
  learning rate decayed once per epoch ((training images / classes per batch) steps)."""
  features = dataset.train.features
  if overrides.get("image_encoder") == "fixed" and features is not None:
    overrides = {"emb_dim": features.shape[1], **overrides}  # v itself is the image embedding
  base = TextEncoderConfig(data_shape=dataset.data_shape, **overrides)
  epoch = max(1, len(dataset.train) // base.classes_per_batch)
  return dataclasses.replace(base, decay_every=overrides.get("decay_every", epoch))


def check(config: TextEncoderConfig, dataset, settings) -> None:
  # (It draws min(classes_per_batch, classes) classes: there is no batch size to check.)
  program.check_data_fits(config, dataset, settings)
  image_input(dataset.train, config)  # missing or mis-sized fixed features fail here


class TextEncoderProgram(program.StepProgram):
  steps_name = "training steps"

  def device_data(self) -> dict:
    return device_data(self.dataset.train, self.config)

  def figure(self, state, path: str, key=None, n: int = 0) -> None:
    sample_figure(state, self.dataset, path)

  def evaluate(self, state, step, samples=None):
    # The final state's embeddings are kept: the StackGAN runs on this encoder read them back.
    return {}, evaluate(state, self.dataset, cache=step >= self.steps)


METHOD = Method(
    name="text-encoder",
    summary="Reed et al. 2016's char-CNN-RNN text encoder (structured joint embedding)",
    config=TextEncoderConfig, settings=program.CaptionSettings,
    load=lambda settings: program.load_captioned(settings, "the text encoder"),
    configure=configure, check=check, derived=("data_shape",),
    build=lambda dataset, settings, config, loop, out: TextEncoderProgram(
        program.Steps(init, train_step), "text-encoder", dataset, settings, config, loop, out),
    loop_defaults=program.loop_defaults, aliases={"learning_rate": ("--lr",)},
    default_out=program.default_out("text-encoder"))
