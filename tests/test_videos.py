"""Real frame sequences through tensorflow-datasets (mocked: no download): Moving MNIST as
evaluation data with MNIST-drawn training sequences, UCF101's motion-cropped training patches and
its every-10th test videos."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxgan.algos import frames_run
from jaxgan.data import moving, videos


def _square_video(frames: int, h: int, w: int, seed: int) -> np.ndarray:
  """A bright square moving right in the top-left corner of a static noise frame."""
  rng = np.random.default_rng(seed)
  still = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
  video = np.repeat(still[None], frames, 0)
  for t in range(frames):
    video[t, 2:10, 2 + 2 * t:10 + 2 * t] = 250
  return video


def _ucf_source(builder, split, *args, **kwargs):
  n = {"train": 3, "test": 25}[split]
  return [{"video": _square_video(8, 40, 48, i), "label": i % 101} for i in range(n)]


def test_motion_crop_finds_the_moving_area():
  clip = _square_video(6, 40, 48, 0)
  rng = np.random.default_rng(0)
  for _ in range(10):
    crop = videos.motion_crop(rng, clip, 16)
    change = (crop[-1].astype(np.float32) - crop[-2]) * (2 / 255)
    assert crop.shape == (6, 16, 16, 3)
    assert np.sqrt(np.mean(change ** 2)) > videos.MIN_MOTION
  with pytest.raises(ValueError, match="smaller than the 64 px"):
    videos.motion_crop(rng, clip, 64)


def test_motion_crop_without_motion_returns_the_last_try():
  clip = np.zeros((6, 20, 20, 1), np.uint8)
  assert videos.motion_crop(np.random.default_rng(0), clip, 8).shape == (6, 8, 8, 1)


def test_moving_masks_level_ignores_small_changes():
  frames = np.zeros((3, 2, 2, 1), np.uint8)
  frames[1:, 0, 0] = 5    # codec-noise-sized change
  frames[2, 1, 1] = 40    # motion
  masks = moving.moving_masks(frames, targets=1, level=10)
  assert masks.tolist() == [[[False, False], [False, True]]]
  assert moving.moving_masks(frames, targets=2)[0].tolist() == [[True, False], [False, False]]


def test_moving_mnist_test_sequences_and_mnist_drawn_training():
  with tfds.testing.mock_data(num_examples=6):
    ds = frames_run.load(frames_run.FramesSettings("tfds:moving_mnist", max_examples=4))
  assert ds.name == "tfds:moving_mnist"
  assert ds.test.x.shape == (4, videos.WINDOW, 64, 64, 1) and ds.test.x.dtype == np.uint8
  np.testing.assert_array_equal(ds.test.masks, moving.moving_masks(ds.test.x))
  assert ds.train.x.shape[1:] == (videos.WINDOW, 64, 64, 1)
  assert len(ds.train) == moving.SEQUENCES["train"]
  np.testing.assert_array_equal(ds.train.masks, moving.moving_masks(ds.train.x))
  assert ds.train.masks.any()  # the digits move


def test_ucf101_training_patches_move_and_test_is_every_10th_video():
  with tfds.testing.mock_data(as_data_source_fn=_ucf_source):
    ds = frames_run.load(frames_run.FramesSettings("tfds:ucf101"))
  assert ds.name == "tfds:ucf101/ucf101_1"
  assert ds.train.x.shape == (3 * videos.UCF_CLIPS_PER_VIDEO, videos.WINDOW, 32, 32, 3)
  change = (ds.train.x[:, -1].astype(np.float32) - ds.train.x[:, -2]) * (2 / 255)
  assert (np.sqrt(np.mean(change ** 2, axis=(1, 2, 3))) > videos.MIN_MOTION).all()
  # 25 test videos: 0, 10 and 20, each its first window at full resolution
  assert ds.test.x.shape == (3, videos.WINDOW, 40, 48, 3)
  np.testing.assert_array_equal(ds.test.x[1], _square_video(8, 40, 48, 10)[:videos.WINDOW])
  # the moving square's pixels, not the static noise
  assert ds.test.masks[:, :, 2:10].any() and not ds.test.masks[:, :, 12:].any()


def test_ucf101_config_and_patch_size_from_the_settings():
  with tfds.testing.mock_data(as_data_source_fn=_ucf_source):
    ds = frames_run.load(frames_run.FramesSettings("tfds:ucf101/ucf101_1", image_size=16,
                                                   max_examples=2))
  assert ds.train.x.shape == (2 * videos.UCF_CLIPS_PER_VIDEO, videos.WINDOW, 16, 16, 3)
  assert len(ds.test) == 2


@pytest.mark.parametrize("dataset,kw,message", [
    ("tfds:moving_mnist", {"image_size": 32}, "64 x 64"),
    ("tfds:ucf101/ucf101_9", {}, "ucf101_1"),
    ("tfds:kinetics", {}, "unknown dataset"),
])
def test_bad_video_datasets_are_refused(dataset, kw, message):
  with pytest.raises(ValueError, match=message):
    frames_run.load(frames_run.FramesSettings(dataset, **kw))


def test_unprepared_moving_mnist_says_how_to_prepare(tmp_path):
  from jaxgan.data import DatasetNotPreparedError

  with pytest.raises(DatasetNotPreparedError, match="tfds build moving_mnist"):
    frames_run.load(frames_run.FramesSettings("tfds:moving_mnist", data_dir=str(tmp_path)))


def test_patch_trained_networks_evaluate_whole_test_frames():
  import jax

  from jaxgan.algos.frames import FramesConfig, init

  with tfds.testing.mock_data(as_data_source_fn=_ucf_source):
    ds = frames_run.load(frames_run.FramesSettings("tfds:ucf101", image_size=16))
  # one scale keeps the compilation short; the scales' divisibility has its own test below
  config = FramesConfig.row("single-scale-l2", frames_run.frame_shape(ds), networks="small")
  frames_run.check(config, ds)
  result = frames_run.evaluate(init(jax.random.key(0), config), ds)
  frame_1 = result["model"]["frame_1"]
  assert set(frame_1) == {"psnr", "ssim", "sharpness"}
  assert np.isfinite(frame_1["psnr"]["moving"]["mean"]) and "optical flow" in result["note"]


def test_test_frames_the_coarsest_scale_cannot_divide_are_refused():
  from jaxgan.algos.frames import FramesConfig

  def source(builder, split, *args, **kwargs):
    return [{"video": _square_video(8, 44, 48, i), "label": 0} for i in range(3)]

  with tfds.testing.mock_data(as_data_source_fn=source):
    ds = frames_run.load(frames_run.FramesSettings("tfds:ucf101", image_size=16))
  with pytest.raises(ValueError, match="44 x 48 test frames cannot be down-sampled by .* 8"):
    frames_run.check(FramesConfig.row("l2", frames_run.frame_shape(ds), networks="small"), ds)
