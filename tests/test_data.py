import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxgan import data


@pytest.mark.parametrize("size", [16, 32])
def test_digits_splits_and_range(size):
  ds = data.load("digits", image_size=size)
  assert ds.data_shape == (size, size, 1) and ds.num_classes == 10
  assert (len(ds.train), len(ds.validation), len(ds.test)) == (1257, 269, 271)
  x = ds.train.floats()
  assert x.min() == -1.0 and x.max() == 1.0
  assert set(np.unique(ds.train.y)) == set(range(10))
  again = data.load("digits", image_size=size)
  np.testing.assert_array_equal(again.test.x, ds.test.x)  # fixed splits


@pytest.mark.parametrize("name,n_modes,radius", [("ring8", 8, 2.0), ("grid25", 25, 4 * np.sqrt(2))])
def test_mixtures(name, n_modes, radius):
  ds = data.load(name)
  assert ds.centres.shape == (n_modes, 2)
  np.testing.assert_allclose(np.linalg.norm(ds.centres, axis=1).max(), radius, rtol=1e-6)
  d = np.linalg.norm(ds.train.x[:, None] - ds.centres[None], axis=-1)
  assert np.all(d.min(1) < 6 * ds.std)  # every sample sits on a mode
  assert len(np.unique(d.argmin(1))) == n_modes


def test_tfds_through_data_source_and_grain():
  # (the mock serves num_examples for every split, sliced or not)
  with tfds.testing.mock_data(num_examples=20):
    ds = data.load("tfds:mnist", image_size=16)
    capped = data.load("tfds:mnist", max_examples=7)
  assert ds.data_shape == (16, 16, 1) and ds.num_classes == 10
  assert len(ds.train) == len(ds.test) == 20
  assert ds.train.x.dtype == np.uint8 and ds.train.y.dtype == np.int32
  assert set(ds.train.y) <= set(range(10))
  assert capped.data_shape == (28, 28, 1) and len(capped.train) == 7


def test_tfds_not_prepared_says_how_to_prepare(tmp_path):
  with pytest.raises(data.DatasetNotPreparedError, match="tfds build mnist --file_format=array_record"):
    data.load("tfds:mnist", data_dir=str(tmp_path))


@pytest.mark.parametrize("name", ["mnist", "tfds:", "tfds:not_a_dataset"])
def test_unknown_dataset(name):
  with pytest.raises(ValueError, match="dataset"):
    data.load(name)
