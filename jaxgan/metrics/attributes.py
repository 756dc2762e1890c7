"""Attribute accuracy of generated shapes: a classifier trained on real ``shapes`` images reads
colour, shape, size, position and background off an image; a generated image scores on how many
of them match the caption it was generated from. Its penultimate features give a Fréchet distance
and its colour x shape prediction (the fine-grained class) an Inception-style score.

The classifier is a measuring instrument, not a model under test: it trains at 32x32 (every
attribute is legible there; larger images are resized down) on real shapes of all 40 classes drawn
with another seed than the dataset's (seed 1: different images, same distribution; trained on the
zero-shot training classes alone it read shape off colour and got 35% of unseen combinations
right), and reports its own accuracy on the dataset's real test images (seed 0).

It is trained once per machine and kept in the user's cache (:func:`jaxrun.files.user_cache`),
its seed, steps and accuracy with it, under a name that holds the JAX version and backend: the
same seed on the same machine gives the same parameters, so the cache changes no figure.
"""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn

from jaxgan.data import shapes
from jaxgan.metrics.classifier import frechet_distance, inception_score
from jaxrun import files
from jaxrun.conv import Conv

SIDE = 32
VERSION = 1  # raise when the instrument's architecture, data or training changes


class AttributeClassifier(nn.Module):
  """Images [B, 32, 32, 3] in [-1, 1] -> ({attribute: logits}, features [B, 128])."""

  @nn.compact
  def __call__(self, x):
    for width in (32, 64):
      x = nn.relu(Conv(width, 3, padding=1)(x))
      x = nn.avg_pool(x, (2, 2), (2, 2))
    h = nn.relu(nn.Dense(128)(x.reshape(x.shape[0], -1)))
    return {k: nn.Dense(len(v), name=k)(h) for k, v in shapes.ATTRIBUTES.items()}, h


def to_classifier_input(images) -> jax.Array:
  """uint8 images, or floats in [-1, 1], of any square size -> [B, 32, 32, 3] floats in [-1, 1]."""
  x = jnp.asarray(images)
  x = x.astype(jnp.float32) / 127.5 - 1.0 if x.dtype == jnp.uint8 else x.astype(jnp.float32)
  if x.shape[1] != SIDE:
    x = jax.image.resize(x, (x.shape[0], SIDE, SIDE, x.shape[3]), "linear")
  return x


@functools.cache
def train_attribute_classifier(steps: int = 800, batch_size: int = 64, seed: int = 0):
  """(params, per-attribute accuracy on the real test images): read from the user's cache when
  it was trained there before, else trained and kept there; cached per process too."""
  name = (f"attribute-classifier-v{VERSION}-{SIDE}px-seed{seed}-{steps}x{batch_size}"
          f"-jax{jax.__version__}-{jax.default_backend()}.msgpack")
  # (shapes alone: initialising the network eagerly to read the file into cost 1-4 s of every run)
  shape = jax.eval_shape(AttributeClassifier().init, jax.random.key(0), jnp.zeros((1, SIDE, SIDE, 3)))
  template = {"params": shape["params"], "record": ""}

  def make():
    params, accuracy = _train(steps, batch_size, seed)
    record = {"seed": seed, "steps": steps, "batch_size": batch_size, "version": VERSION,
              "real_test_accuracy": accuracy}
    return {"params": params, "record": json.dumps(record)}

  saved = files.cached_tree(files.user_cache(name), template, make, must_write=False)
  return saved["params"], json.loads(saved["record"])["real_test_accuracy"]


def _train(steps: int, batch_size: int, seed: int):
  own = shapes.load_shapes(SIDE, seed=1)
  splits = (own.train, own.validation, own.test)
  x = np.concatenate([s.x for s in splits])
  attrs = {k: np.concatenate([s.attributes[k] for s in splits]) for k in shapes.ATTRIBUTES}
  module = AttributeClassifier()
  x, attrs = to_classifier_input(x), jax.tree.map(jnp.asarray, attrs)
  key = jax.random.key(seed)
  params = jax.jit(module.init)(key, x[:1])["params"]  # (the eager init's bits, in one program)
  tx = optax.adam(1e-3)

  def step(carry, k):
    params, opt_state = carry
    idx = jax.random.randint(k, (batch_size,), 0, x.shape[0])

    def loss_fn(p):
      logits, _ = module.apply({"params": p}, x[idx])
      return sum(optax.softmax_cross_entropy_with_integer_labels(logits[a], attrs[a][idx]).mean()
                 for a in shapes.ATTRIBUTES)

    updates, opt_state = tx.update(jax.grad(loss_fn)(params), opt_state)
    return (optax.apply_updates(params, updates), opt_state), None

  keys = jax.random.split(jax.random.fold_in(key, 1), steps)
  (params, _), _ = jax.jit(lambda c, k: jax.lax.scan(step, c, k))((params, tx.init(params)), keys)
  test = shapes.load_shapes(SIDE).test
  return params, attribute_accuracy(params, test.x, test.attributes)


@jax.jit
def _predict(params, x):
  return AttributeClassifier().apply({"params": params}, x)


def predict(params, images, batch: int = 500):
  """({attribute: predicted value}, features) of images (any size; see to_classifier_input)."""
  outs = [_predict(params, to_classifier_input(images[i:i + batch]))
          for i in range(0, len(images), batch)]
  logits = {k: np.concatenate([np.asarray(o[0][k]) for o in outs]) for k in shapes.ATTRIBUTES}
  return logits, np.concatenate([np.asarray(o[1]) for o in outs])


def attribute_accuracy(params, images, attributes: dict) -> dict:
  """Per-attribute accuracy of the classifier's reading of ``images`` against ``attributes``, and
  their mean (``all``: every attribute right at once)."""
  logits, _ = predict(params, images)
  right = {k: np.asarray(logits[k]).argmax(1) == np.asarray(attributes[k]) for k in shapes.ATTRIBUTES}
  out = {k: float(v.mean()) for k, v in right.items()}
  out["mean"] = float(np.mean([out[k] for k in shapes.ATTRIBUTES]))
  out["all"] = float(np.mean(np.all(np.stack(list(right.values())), axis=0)))
  return out


def generated_image_metrics(params, generated, real, attributes: dict) -> dict:
  """Attribute accuracy of ``generated`` (one per caption, ``attributes`` the captions' values),
  Fréchet distance of its classifier features to ``real``'s, and the Inception-style score of the
  classifier's colour x shape prediction."""
  acc = attribute_accuracy(params, generated, attributes)
  logits, feats = predict(params, generated)
  _, real_feats = predict(params, real)
  colour = jax.nn.softmax(jnp.asarray(logits["colour"]))
  shape = jax.nn.softmax(jnp.asarray(logits["shape"]))
  joint = np.asarray((colour[:, :, None] * shape[:, None, :]).reshape(len(generated), -1))
  return {**{f"attribute_{k}": v for k, v in acc.items()},
          "frechet": frechet_distance(feats, real_feats), "inception_score": inception_score(joint)}
