"""Zero-shot classification and retrieval with a joint embedding (Reed et al. 2016, Tables 1-2).

Each held-out class is represented by the mean embedding of its captions. Zero-shot top-1
accuracy: every image is assigned the class whose text embedding scores highest with it, accuracy
averaged over classes (Reed's per-class average). Retrieval: each class's text embedding ranks
all the images; AP@k is the average precision of the top k, sum_{i <= k} P(i) rel(i) / min(k, R)
with R the number of images of that class, averaged over classes.
"""

import numpy as np


def class_means(emb: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(classes present, sorted; the mean embedding of each)."""
  classes = np.unique(labels)
  return classes, np.stack([emb[labels == c].mean(0) for c in classes])


def zero_shot_accuracy(image_emb: np.ndarray, labels: np.ndarray, class_text_emb: np.ndarray,
                       classes: np.ndarray) -> float:
  """Per-class average top-1 accuracy of assigning each image the best-scoring class."""
  pred = classes[np.argmax(image_emb @ class_text_emb.T, axis=1)]
  return float(np.mean([np.mean(pred[labels == c] == c) for c in classes]))


def average_precision_at_k(image_emb: np.ndarray, labels: np.ndarray, class_text_emb: np.ndarray,
                           classes: np.ndarray, k: int = 50) -> float:
  """Mean over the class queries of AP@k of the images they retrieve."""
  scores = class_text_emb @ image_emb.T  # [C, N]
  aps = []
  for c, row in zip(classes, scores):
    top = np.argsort(-row, kind="stable")[:k]
    rel = (labels[top] == c).astype(np.float64)
    precision = np.cumsum(rel) / np.arange(1, len(top) + 1)
    aps.append(float((precision * rel).sum() / min(k, int((labels == c).sum()))))
  return float(np.mean(aps))
