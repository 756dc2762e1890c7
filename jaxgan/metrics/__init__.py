"""What the papers measure: mode coverage on 2-D mixtures; Parzen-window log-likelihood, Fréchet
distance and an Inception-style score (on the project's own classifier) on images; for the
conditional GAN, the accuracy of samples against the labels they were asked for."""

import numpy as np

from jaxgan.metrics.classifier import (
    Classifier, classifier_metrics, frechet_distance, inception_score, load_or_train_classifier,
    train_classifier)
from jaxgan.metrics.modes import mode_stats
from jaxgan.metrics.parzen import log_likelihood, parzen_evaluation


def evaluate(generate, dataset, *, num_classes: int = 0, num_samples: int = 10_000,
             mode_samples: int = 2_500, classifier: Classifier | None = None) -> dict:
  """Metrics of a trained generator. ``generate(n, labels) -> np.ndarray`` draws ``n`` samples
  (``labels`` is None unless the model is conditional)."""
  if dataset.centres is not None:
    return mode_stats(generate(mode_samples, None), dataset.centres, dataset.std)
  labels = np.arange(num_samples) % num_classes if num_classes else None
  samples = generate(num_samples, labels)
  to01 = lambda x: (np.asarray(x).reshape(len(x), -1) + 1.0) / 2.0
  out = parzen_evaluation(to01(samples), to01(dataset.validation.floats()), to01(dataset.test.floats()))
  if dataset.num_classes:
    out.update(classifier_metrics(classifier, samples, dataset.test.floats(), labels))
  return out
