"""Captioned data: the generated shapes, Reed's character encoding, the CUB / Oxford-102 layout."""

import numpy as np
import pytest

from jaxgan import data
from jaxgan.data import captions, shapes


@pytest.mark.parametrize("size", shapes.IMAGE_SIZES)
def test_shapes_sizes_and_determinism(size):
  ds = shapes.load_shapes(size, per_class=2)
  assert ds.data_shape == (size, size, 3) and ds.train.x.dtype == np.uint8
  assert (len(ds.train), len(ds.validation), len(ds.test)) == (48, 16, 16)
  assert ds.train.captions.shape == (48, 10)
  again = shapes.load_shapes(size, per_class=2)
  np.testing.assert_array_equal(again.test.x, ds.test.x)
  assert (again.test.captions == ds.test.captions).all()


def test_shapes_zero_shot_splits_and_attributes():
  ds = shapes.load_shapes(32, per_class=3)
  train, val, test = (set(s.y.tolist()) for s in (ds.train, ds.validation, ds.test))
  assert (len(train), len(val), len(test)) == (24, 8, 8)
  assert not (train & val or train & test or val & test)  # disjoint classes
  for split in (ds.train, ds.validation, ds.test):
    for i in range(len(split)):
      colour, shape = shapes.classes()[split.y[i]]
      attrs = {k: shapes.ATTRIBUTES[k][v[i]] for k, v in split.attributes.items()}
      assert (attrs["colour"], attrs["shape"]) == (colour, shape)
      for text in split.captions[i]:  # every caption names the colour and a word for the shape
        assert colour in text and any(w in text for w in shapes._SHAPE_WORDS[shape]), text
        captions.encode(text)  # and is in the alphabet
  assert len({t for caps in ds.train.captions for t in caps}) > 0.9 * ds.train.captions.size


def test_shapes_renders_what_the_attributes_say():
  """The shape's colour sits in the named cell of the 3x3 grid, on the named background."""
  ds = shapes.load_shapes(64, per_class=4)
  x, a = ds.train.x.astype(int), ds.train.attributes
  for i in range(len(x)):
    colour = np.array(shapes.COLOURS[shapes.ATTRIBUTES["colour"][a["colour"][i]]])
    mask = np.abs(x[i] - colour).sum(-1) < 60
    ys, xs = np.nonzero(mask)
    row, col = divmod(a["position"][i], 3)
    assert abs(ys.mean() / 64 - (0.22 + 0.28 * row)) < 0.08
    assert abs(xs.mean() / 64 - (0.22 + 0.28 * col)) < 0.08
    background = np.median(x[i])  # the shape covers at most a sixth of the image
    assert (background < 80) == (shapes.ATTRIBUTES["background"][a["background"][i]] == "dark")
  sizes = [np.sum(np.abs(x[i] - x[i][0, 0]).sum(-1) > 60) for i in range(len(x))]
  by_size = [np.mean([s for s, k in zip(sizes, a["size"]) if k == j]) for j in range(3)]
  assert by_size[0] < by_size[1] < by_size[2]


def test_encode_lowercases_pads_and_checks():
  codes = captions.encode("A Red circle.")
  assert codes.shape == (201,) and captions.decode(codes) == "a red circle."
  assert (codes[len("a red circle."):] == 0).all()
  assert captions.decode(captions.encode("x" * 250)) == "x" * 201  # truncated as Reed's loader does
  with pytest.raises(ValueError, match="empty caption"):
    captions.encode("   ")
  with pytest.raises(ValueError, match="outside the text encoder's alphabet"):
    captions.encode("a red circle é")
  assert captions.encode_all([["a", "b"], ["c", "d"]]).shape == (2, 2, 201)


def test_folder_layout_loads(tmp_path, reed_folder):
  ds = data.load(f"folder:{reed_folder(tmp_path)}", image_size=32)
  assert ds.num_classes == 3 and ds.data_shape == (32, 32, 3)
  assert len(ds.train) == 2 and ds.train.captions.shape == (2, 10)
  assert ds.train.captions[0, 3] == "caption 3 of 001.A"
  assert set(ds.test.y) == {2} and ds.train.features is None


def test_folder_fixed_features_load_averaged_over_crops(tmp_path, reed_folder):
  crops = np.arange(12, dtype=np.float32).reshape(3, 4)  # 3 crops of 4 features
  ds = data.load(f"folder:{reed_folder(tmp_path, features=crops)}", image_size=32)
  assert ds.train.features.shape == (2, 4) and ds.test.features.dtype == np.float32
  np.testing.assert_array_equal(ds.train.features[1], crops.mean(0) + 1)


def test_folder_layout_errors_say_what_is_expected(tmp_path, reed_folder):
  with pytest.raises(ValueError, match="trainclasses.txt is missing"):
    data.load(f"folder:{tmp_path}")
  root = reed_folder(tmp_path / "few", k=3)
  with pytest.raises(ValueError, match="has 3 captions"):
    data.load(f"folder:{root}")
  root = reed_folder(tmp_path / "noimg")
  (root / "images" / "002.B" / "img1.jpg").unlink()
  with pytest.raises(ValueError, match="no image for text_c10/002.B/img1.txt"):
    data.load(f"folder:{root}")
  root = reed_folder(tmp_path / "nofeat", features=np.zeros(4))
  (root / "features" / "003.C" / "img0.npy").unlink()
  with pytest.raises(ValueError, match="features/003.C/img0.npy is missing"):
    data.load(f"folder:{root}")
  root = reed_folder(tmp_path / "sizes", features=np.zeros(4))
  np.save(root / "features" / "003.C" / "img0.npy", np.zeros(5))
  with pytest.raises(ValueError, match="different sizes"):
    data.load(f"folder:{root}")
