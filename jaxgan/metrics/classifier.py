"""A small classifier trained by the project on a dataset's training split. Its penultimate
features give a Fréchet distance, its predictions an Inception-style score, a class histogram and,
for the conditional GAN, the accuracy of samples against the labels they were asked for."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.linalg
from flax import linen as nn

from jaxgan.data import Dataset
from jaxrun import files
from jaxrun.conv import Conv


class ConvClassifier(nn.Module):
  num_classes: int
  features: int = 128

  @nn.compact
  def __call__(self, x, return_features: bool = False):
    for width in (32, 64):
      x = nn.relu(Conv(width, 3, padding=1)(x))
      x = nn.avg_pool(x, (2, 2), (2, 2))
    h = nn.relu(nn.Dense(self.features)(x.reshape(x.shape[0], -1)))
    logits = nn.Dense(self.num_classes)(h)
    return (logits, h) if return_features else logits


@functools.partial(jax.jit, static_argnums=0)
def _logits_and_features(module: ConvClassifier, params, x):
  return module.apply({"params": params}, x, return_features=True)


@dataclasses.dataclass
class Classifier:
  module: ConvClassifier
  params: dict
  test_accuracy: float

  def logits_and_features(self, images: np.ndarray, batch_size: int = 500):
    outs = [_logits_and_features(self.module, self.params, jnp.asarray(images[i:i + batch_size]))
            for i in range(0, len(images), batch_size)]
    return (np.concatenate([np.asarray(o[0]) for o in outs]),
            np.concatenate([np.asarray(o[1]) for o in outs]))


def train_classifier(dataset: Dataset, steps: int = 1500, batch_size: int = 128, seed: int = 0) -> Classifier:
  """Adam 1e-3 on the training split with random shifts of up to one pixel; reports test accuracy."""
  if dataset.num_classes < 2:
    raise ValueError(f"{dataset.name} has no class labels; the classifier metrics need them.")
  module = ConvClassifier(dataset.num_classes)
  x, y = jnp.asarray(dataset.train.floats()), jnp.asarray(dataset.train.y)
  key = jax.random.key(seed)
  params = module.init(key, x[:1])["params"]
  tx = optax.adam(1e-3)

  def step(carry, k):
    params, opt_state = carry
    k_idx, k_shift = jax.random.split(k)
    idx = jax.random.randint(k_idx, (batch_size,), 0, x.shape[0])
    dy, dx = jax.random.randint(k_shift, (2,), 0, 3)
    xb = jax.lax.dynamic_slice(jnp.pad(x[idx], ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge"),
                               (0, dy, dx, 0), (batch_size, *x.shape[1:]))

    def loss_fn(p):
      return optax.softmax_cross_entropy_with_integer_labels(module.apply({"params": p}, xb), y[idx]).mean()

    grads = jax.grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state)
    return (optax.apply_updates(params, updates), opt_state), None

  keys = jax.random.split(jax.random.fold_in(key, 1), steps)
  (params, _), _ = jax.jit(lambda c, k: jax.lax.scan(step, c, k))((params, tx.init(params)), keys)
  clf = Classifier(module, params, 0.0)
  logits, _ = clf.logits_and_features(dataset.test.floats())
  clf.test_accuracy = float(np.mean(logits.argmax(1) == dataset.test.y))
  return clf


def load_or_train_classifier(dataset: Dataset, path: str | None = None) -> Classifier:
  """Trains the classifier, or restores it from ``path`` when it was saved there before. The file
  is written atomically; one that does not read (cut short) is replaced by training again, which
  gives the same classifier (its seed is fixed)."""
  module = ConvClassifier(dataset.num_classes)
  template = {"params": module.init(jax.random.key(0), jnp.zeros((1, *dataset.data_shape)))["params"],
              "test_accuracy": 0.0}

  def make():
    clf = train_classifier(dataset)
    return {"params": clf.params, "test_accuracy": clf.test_accuracy}

  saved = files.cached_tree(path, template, make)
  return Classifier(module, saved["params"], float(saved["test_accuracy"]))


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
  """|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between Gaussians fitted to features."""
  a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
  mu_a, mu_b = a.mean(0), b.mean(0)
  cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  # ReLU features that never fire make the covariances singular; a 1e-6 ridge (as pytorch-fid
  # does on failure) keeps sqrtm well defined; the
  # ridge enters both covariances, so identical features still score 0.
  ridge = 1e-6 * np.eye(len(cov_a))
  covmean = np.real(scipy.linalg.sqrtm((cov_a + ridge) @ (cov_b + ridge)))
  return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b + 2.0 * ridge - 2.0 * covmean))


def inception_score(probs: np.ndarray) -> float:
  """exp(E_x KL(p(y|x) || p(y))) (Salimans et al. 2016) on the project classifier's predictions."""
  p = np.asarray(probs, np.float64)
  marginal = p.mean(0, keepdims=True)
  kl = np.sum(p * (np.log(p + 1e-12) - np.log(marginal + 1e-12)), axis=1)
  return float(np.exp(kl.mean()))


def classifier_metrics(clf: Classifier, samples: np.ndarray, reference: np.ndarray,
                       labels: np.ndarray | None = None) -> dict:
  """Fréchet distance to ``reference`` images, Inception-style score, class histogram and, when
  ``labels`` (the requested classes) are given, the accuracy of samples against them, overall and
  per requested class."""
  logits, feats = clf.logits_and_features(samples)
  _, ref_feats = clf.logits_and_features(reference)
  probs = np.asarray(jax.nn.softmax(logits))
  pred = logits.argmax(1)
  out = {"frechet": frechet_distance(feats, ref_feats), "inception_score": inception_score(probs),
         "class_histogram": np.bincount(pred, minlength=logits.shape[1]).tolist(),
         "classifier_test_accuracy": clf.test_accuracy}
  if labels is not None:
    labels = np.asarray(labels)
    out["label_accuracy"] = float(np.mean(pred == labels))
    out["label_accuracy_per_class"] = [float(np.mean(pred[labels == c] == c)) if (labels == c).any()
                                       else None for c in range(logits.shape[1])]
  return out
