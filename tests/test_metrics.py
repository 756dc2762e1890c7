import numpy as np
import pytest
import scipy.stats

from jaxgan import data, metrics


def test_frechet_distance_of_gaussians_matches_closed_form():
  # Diagonal covariances: FD = |mu_a - mu_b|^2 + sum (s_a - s_b)^2 over standard deviations.
  rng = np.random.default_rng(0)
  a = rng.normal(0.0, 1.0, (200_000, 3))
  b = rng.normal([1.0, 0.0, 2.0], [2.0, 1.0, 3.0], (200_000, 3))
  expected = (1 + 0 + 4) + (1 + 0 + 4)
  assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=0.02)
  assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_inception_score_extremes():
  k = 7
  assert metrics.inception_score(np.eye(k)[np.arange(70) % k]) == pytest.approx(k)   # confident, diverse
  assert metrics.inception_score(np.full((50, k), 1.0 / k)) == pytest.approx(1.0)    # uninformative
  assert metrics.inception_score(np.eye(k)[np.zeros(30, int)]) == pytest.approx(1.0)  # collapsed


def test_mode_stats_counts_covered_modes_and_quality():
  centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
  near0 = np.zeros((30, 2)) + 0.01
  near1 = centres[1] + np.full((19, 2), 0.02)       # 19 < min_count 20: not covered
  far = np.full((51, 2), 5.0)                        # off every mode
  out = metrics.mode_stats(np.concatenate([near0, near1, far]), centres, std=0.1)
  assert out == {"modes": 1, "num_modes": 3, "high_quality": pytest.approx(49 / 100)}


def test_parzen_log_likelihood_matches_direct_formula():
  rng = np.random.default_rng(1)
  samples, x, sigma = rng.normal(size=(40, 5)), rng.normal(size=(9, 5)), 0.7
  direct = [np.log(np.mean([scipy.stats.multivariate_normal(mu, sigma**2).pdf(xi) for mu in samples]))
            for xi in x]
  np.testing.assert_allclose(metrics.log_likelihood(x, samples, sigma, batch_size=4), direct, rtol=1e-4)


def test_parzen_evaluation_picks_sigma_on_validation():
  rng = np.random.default_rng(2)
  samples = rng.normal(0, 0.3, (2000, 2))
  out = metrics.parzen_evaluation(samples, rng.normal(0, 0.3, (500, 2)), rng.normal(0, 0.3, (500, 2)))
  assert out["parzen_sigma"] in metrics.parzen.SIGMAS
  assert 0.1 <= out["parzen_sigma"] <= 0.3      # a width near the data's scale, not the extremes
  ll = metrics.log_likelihood(rng.normal(0, 0.3, (500, 2)), samples, out["parzen_sigma"])
  assert out["parzen_ll"] == pytest.approx(ll.mean(), abs=5 * out["parzen_se"])


def test_classifier_learns_digits_and_scores_real_data_well():
  ds = data.load("digits", 16)
  clf = metrics.train_classifier(ds, steps=300)
  assert clf.test_accuracy > 0.9
  real = metrics.classifier_metrics(clf, ds.test.floats(), ds.validation.floats(), labels=ds.test.y)
  noise = metrics.classifier_metrics(clf, np.random.default_rng(0).uniform(-1, 1, (271, 16, 16, 1)),
                                     ds.validation.floats())
  assert real["label_accuracy"] == pytest.approx(clf.test_accuracy)
  # Per class: the share of each class's test images the classifier names right, by definition.
  pred = np.asarray(clf.logits_and_features(ds.test.floats())[0]).argmax(1)
  assert real["label_accuracy_per_class"] == pytest.approx(
      [np.mean(pred[ds.test.y == c] == c) for c in range(10)])
  assert real["frechet"] < noise["frechet"]
  assert real["inception_score"] > 5 > noise["inception_score"]
  assert sum(real["class_histogram"]) == len(ds.test)


def test_zero_shot_accuracy_and_ap_at_k_hand_computed():
  from jaxgan.metrics import retrieval

  text = np.array([[1.0, 0.0], [0.0, 1.0]])           # classes 5 and 7
  images = np.array([[1.0, 0.1], [0.9, 0.0], [0.2, 1.0], [0.6, 0.5]])
  labels = np.array([5, 5, 7, 7])
  classes = np.array([5, 7])
  # image 3 (class 7) scores 0.6 with class 5: per class, 2/2 and 1/2 right.
  assert retrieval.zero_shot_accuracy(images, labels, text, classes) == 0.75
  # class 5 ranks images 0, 1, 3, 2: AP@2 = 1; class 7 ranks 2, 3, 0, 1: AP@2 = 1;
  # at k = 3 nothing changes for either (R = 2, both relevant images in the top 2).
  assert retrieval.average_precision_at_k(images, labels, text, classes, k=2) == 1.0
  # k = 1 with query 7 moved: its top image is class 5 -> AP@1 = 0 for that class.
  text2 = np.array([[1.0, 0.0], [1.0, 0.05]])
  np.testing.assert_allclose(retrieval.average_precision_at_k(images, labels, text2, classes, k=1),
                             0.5)
  c, means = retrieval.class_means(images, labels)
  np.testing.assert_allclose(means[0], [0.95, 0.05])
