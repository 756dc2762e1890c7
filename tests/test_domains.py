"""The domains of domain adaptation: digits-m made by MNIST-M's recipe, MNIST-M's folder layout,
tfds sources, and the errors for domains that do not fit each other."""

import os

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from jaxgan.data import domains as dom


def test_blend_is_mnist_m_recipe():
  digit = np.array([[0.2, 0.5], [0.9, 0.0]], np.float32)[None, ..., None]  # binarised: 0, 1, 1, 0
  crop = np.array([[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], [[0.7, 0.8, 0.9], [1.0, 0.0, 0.5]]],
                  np.float32)[None]
  out = dom.blend(digit, crop)
  np.testing.assert_allclose(out[0, 0, 0], crop[0, 0, 0])          # background kept
  np.testing.assert_allclose(out[0, 0, 1], 1 - crop[0, 0, 1])      # |bg - 1| = 1 - bg
  np.testing.assert_allclose(out[0, 1, 0], 1 - crop[0, 1, 0])
  np.testing.assert_allclose(out[0, 1, 1], crop[0, 1, 1])


def test_backgrounds_are_seeded_colour_images_of_every_kind():
  a, b = dom.backgrounds(10, 32, seed=3), dom.backgrounds(10, 32, seed=3)
  np.testing.assert_array_equal(a, b)
  assert a.shape == (10, 32, 32, 3) and a.min() >= 0 and a.max() <= 1
  assert not np.array_equal(a, dom.backgrounds(10, 32, seed=4))
  assert all(np.ptp(im) > 0.05 for im in a)  # none is flat
  with pytest.raises(ValueError, match="unknown background"):
    dom.background(np.random.default_rng(0), "plasma", 8)


def test_digits_m_domains_are_unpaired_and_far_apart():
  d = dom.digits_domains(16)
  assert d.source.data_shape == d.target.data_shape == (16, 16, 3)
  assert d.num_classes == 10 and len(d.target.test) == 540
  # source images are grey (equal channels); target images are coloured
  s = d.source.train.x
  assert np.array_equal(s[..., 0], s[..., 1]) and np.array_equal(s[..., 0], s[..., 2])
  assert np.mean(np.ptp(d.target.train.x.astype(int), axis=-1)) > 20
  # the target trains on the odd-numbered digits (its first render, made again here) and none of
  # them is among the source's digits
  from jaxgan.data.base import Split
  from jaxgan.data.digits import load_digits

  train = load_digits(16).train
  again = dom.render_m(Split(train.x[1::2], train.y[1::2]), 10, dom.backgrounds(200, 32))
  np.testing.assert_array_equal(d.target.train.x[:628], again.x)
  np.testing.assert_array_equal(d.target.train.y[:628], again.y)
  binarised = lambda xs: {(x[..., 0] >= 128).tobytes() for x in xs}
  assert not binarised(d.source.train.x) & binarised(train.x[1::2])
  # the target's test images are held out of both training sets
  assert len(d.target.train) == dom.TARGET_RENDERS * 628
  assert len(d.source.train) + 628 + len(d.target.test) == 1797


def _write_mnist_m(root, n_train=3, n_test=2, size=28, skip=()):
  rng = np.random.default_rng(0)
  for split, n in (("train", n_train), ("test", n_test)):
    folder = os.path.join(root, f"mnist_m_{split}")
    os.makedirs(folder, exist_ok=True)
    lines = []
    for i in range(n):
      name = f"{i:08d}.png"
      Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
          os.path.join(folder, name))
      lines.append(f"{name} {i % 10}")
    if f"mnist_m_{split}_labels.txt" not in skip:
      with open(os.path.join(root, f"mnist_m_{split}_labels.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def test_mnist_m_folder_reads_the_distributed_layout(tmp_path):
  _write_mnist_m(tmp_path)
  d = dom.load_mnist_m_folder(str(tmp_path), image_size=16)
  assert d.train.x.shape == (3, 16, 16, 3) and d.test.x.shape == (2, 16, 16, 3)
  assert d.train.x.dtype == np.uint8
  np.testing.assert_array_equal(d.train.y, [0, 1, 2])
  assert dom.load_mnist_m_folder(str(tmp_path)).train.x.shape == (3, 28, 28, 3)  # as stored


def test_mnist_m_folder_errors_say_what_is_expected(tmp_path):
  _write_mnist_m(tmp_path, skip=("mnist_m_test_labels.txt",))
  with pytest.raises(ValueError, match="mnist_m_test_labels.txt missing.*needed for evaluation"):
    dom.load_mnist_m_folder(str(tmp_path))
  for labels, message in (("00000000.png five\n", "line 1: expected `FILE LABEL`"),
                          ("00000000.png -1\n", "line 1: .* a class number >= 0"),
                          ("00000000.png 1\nmissing.png 2\n", "lists missing.png")):
    (tmp_path / "mnist_m_test_labels.txt").write_text(labels)
    with pytest.raises(ValueError, match=message):
      dom.load_mnist_m_folder(str(tmp_path))


def test_tfds_source_and_folder_target(tmp_path):
  _write_mnist_m(tmp_path, size=32)
  with tfds.testing.mock_data(num_examples=12):
    d = dom.load_domains("tfds:mnist", f"folder:{tmp_path}", image_size=16)
    assert d.source.data_shape == (16, 16, 3) and d.target.data_shape == (16, 16, 3)
    x = d.source.train.x
    assert np.array_equal(x[..., 0], x[..., 2])  # grey tiled to the target's RGB
    with pytest.raises(ValueError, match="28 px and .* 32 px; pass --image-size"):
      dom.load_domains("tfds:mnist", f"folder:{tmp_path}")


@pytest.mark.parametrize("source,target,match", [
    ("svhn", "digits-m", "unknown source 'svhn'"),
    ("digits", "mnistm", "unknown target 'mnistm'"),
    ("digits", "folder:/x", "digits and digits-m go together"),
    ("tfds:mnist", "digits-m", "digits and digits-m go together"),
])
def test_unknown_or_mismatched_domain_names(source, target, match):
  with pytest.raises(ValueError, match=match):
    dom.load_domains(source, target)


def test_domains_with_different_classes_are_refused(tmp_path):
  _write_mnist_m(tmp_path, n_train=3, n_test=2, size=28)
  with open(tmp_path / "mnist_m_train_labels.txt", "a") as f:
    f.write("00000000.png 12\n")  # mnist has classes 0..9
  with tfds.testing.mock_data(num_examples=12):
    with pytest.raises(ValueError, match=r"labels \[12\] outside tfds:mnist's 10 classes"):
      dom.load_domains("tfds:mnist", f"folder:{tmp_path}")
