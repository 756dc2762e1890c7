"""Reed et al.'s char-CNN-RNN text encoder and its joint-embedding training."""

import dataclasses
import functools
import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from jaxgan import cli, program
from jaxgan.algos import text_encoder as te
from jaxgan.data import captions, shapes
from jaxgan.nets import text

# Reed's text network at a sixth of his widths (his: the parameter-shape test) and his optimiser;
# a smaller embedding, image encoder, batch and captions.
SMALL = te.TextEncoderConfig(data_shape=(32, 32, 3), emb_dim=128, image_width=16, max_length=110,
                             classes_per_batch=16, captions_per_class=2, conv_features=(48, 64),
                             cnn_dim=64)


def test_temporal_conv_equals_a_1d_convolution():
  x = jax.random.normal(jax.random.key(0), (3, 17, 5))
  layer = text.TemporalConv(7)
  params = layer.init(jax.random.key(1), x)
  ref = nn.Conv(7, (4,), padding="VALID")
  ref_params = {"params": {"kernel": params["params"]["kernel"], "bias": params["params"]["bias"]}}
  np.testing.assert_allclose(layer.apply(params, x), ref.apply(ref_params, x), rtol=1e-5, atol=1e-6)


def test_char_cnn_rnn_follows_reed():
  """201 characters -> 198 -> 66 -> 63 -> 21 -> 18 recurrent steps -> the embedding; parameters
  uniform in [-0.08, 0.08]; padding characters are all-zero one-hot rows."""
  net = text.CharCNNRNN()
  codes = jnp.asarray(captions.encode_all(["a small red circle", "a big blue square at the top"]))
  params = net.init(jax.random.key(0), codes)
  p = params["params"]
  assert p["TemporalConv_0"]["kernel"].shape == (4, len(captions.ALPHABET), 384)
  assert p["TemporalConv_1"]["kernel"].shape == (4, 384, 512)
  assert p["TemporalConv_2"]["kernel"].shape == (4, 512, 256)
  assert p["embed"]["kernel"].shape == (256, 1024)
  leaves = jax.tree.leaves(params)
  assert min(float(x.min()) for x in leaves) >= -0.08 and max(float(x.max()) for x in leaves) <= 0.08
  out, inter = net.apply(params, codes, capture_intermediates=True)
  assert out.shape == (2, 1024)
  assert inter["intermediates"]["TemporalConv_2"]["__call__"][0].shape == (2, 18, 256)


def test_a_batch_holds_distinct_classes_and_their_own_captions():
  ds = shapes.load_shapes(32, per_class=4)
  data = te.device_data(ds.train, SMALL)
  batch = jax.jit(te.draw_batch, static_argnums=2)(data, jax.random.key(0), SMALL)
  assert batch["images"].shape == (16, 1, 32, 32, 3) and batch["codes"].shape == (16, 2, 110)
  train_classes = np.unique(ds.train.y)
  by_caption = {c[:110]: int(y) for caps, y in zip(ds.train.captions, ds.train.y) for c in caps}
  rows = [{by_caption[captions.decode(c)] for c in row} for row in np.asarray(batch["codes"])]
  assert all(len(r) == 1 for r in rows)  # each row's captions come from one class
  classes = [r.pop() for r in rows]
  assert len(set(classes)) == 16 and set(classes) <= set(train_classes.tolist())


@functools.partial(jax.jit, static_argnums=3)
def _scan(state, data, key, steps):
  return jax.lax.scan(lambda s, i: te.train_step(s, data, jax.random.fold_in(key, i)), state,
                      jnp.arange(steps))


def _run(config, ds, steps, key):
  """(state, metrics per step) of ``steps`` steps on ``ds``'s training split (data and key are
  arguments, not constants: runs of one config and length share one program)."""
  return _scan(te.init(key, config), jax.device_put(te.device_data(ds.train, config)), key, steps)


def test_loss_falls_on_a_small_run():
  """From the plateau where every caption embeds alike (loss 2 (B - 1) / B) the loss falls well
  below it within 400 steps, and the batch accuracy rises above chance."""
  ds = shapes.load_shapes(32, per_class=6)
  _, m = _run(SMALL, ds, 400, jax.random.key(0))
  loss, accuracy = np.asarray(m["loss"]), np.asarray(m["batch_accuracy"])
  assert loss[-50:].mean() < 0.75 * loss[50:100].mean()
  assert accuracy[-50:].mean() > 2 / 16


def test_same_key_gives_bitwise_identical_parameters():
  ds = shapes.load_shapes(32, per_class=3)
  state, _ = _run(SMALL, ds, 10, jax.random.key(0))
  again, _ = _run(SMALL, ds, 10, jax.random.key(0))
  chex.assert_trees_all_equal(again.params, state.params)
  other, _ = _run(SMALL, ds, 10, jax.random.key(1))
  assert not np.array_equal(other.params["text"]["params"]["embed"]["kernel"],
                            state.params["text"]["params"]["embed"]["kernel"])


def _attribute_features(split, dim=16, seed=0):
  """Fixed image features that say the colour and shape (one-hot, with noise): what a pretrained
  image network's features would carry."""
  rng = np.random.default_rng(seed)
  f = np.zeros((len(split), dim), np.float32)
  f[np.arange(len(split)), split.attributes["colour"]] = 1.0
  f[np.arange(len(split)), 8 + split.attributes["shape"]] = 1.0
  return f + 0.1 * rng.normal(size=f.shape).astype(np.float32)


def test_fixed_features_are_the_image_embedding_and_the_text_side_learns_zero_shot():
  """image_encoder 'fixed' (Reed's GoogLeNet-feature setting): no image parameters, images embed
  as their features, and captions learn to point at the features of their colour and shape well
  enough to classify the held-out colour-shape combinations above chance."""
  ds = shapes.load_shapes(32, per_class=6)
  ds = dataclasses.replace(ds, **{name: dataclasses.replace(
      getattr(ds, name), features=_attribute_features(getattr(ds, name), seed=i))
      for i, name in enumerate(("train", "validation", "test"))})
  config = dataclasses.replace(SMALL, emb_dim=16, image_encoder="fixed", conv_features=(384, 512),
                               cnn_dim=256)  # Reed's widths: at a sixth the text side reads 0.4
  state, m = _run(config, ds, 150, jax.random.key(0))
  assert state.params["image"] == {}
  np.testing.assert_array_equal(te.embed_images(state, ds.test.features), ds.test.features)
  loss = np.asarray(m["loss"])
  assert loss[-50:].mean() < 0.5 * loss[:50].mean()
  assert te.evaluate_split(state, ds.test)["zero_shot_top1"] > 0.75  # chance 1/8; 0.31 untrained
  with pytest.raises(ValueError, match="emb_dim must be 16, not 128"):
    te.device_data(ds.train, dataclasses.replace(config, emb_dim=128))
  with pytest.raises(ValueError, match="has none"):
    te.device_data(shapes.load_shapes(32, per_class=1).train, config)


def test_bad_configs_fail_early():
  with pytest.raises(ValueError, match="classes_per_batch must be >= 2"):
    te.TextEncoderConfig(classes_per_batch=1)
  with pytest.raises(ValueError, match="max_length must be >= 39"):
    te.TextEncoderConfig(max_length=20)
  with pytest.raises(ValueError, match="power of 2"):
    te.TextEncoderConfig(data_shape=(48, 48, 3))
  with pytest.raises(ValueError, match="image_encoder must be one of"):
    te.TextEncoderConfig(image_encoder="googlenet")


def test_cli_trains_and_evaluates_the_text_encoder(tmp_path, capsys):
  out = str(tmp_path / "te")
  assert cli.main(["train", "text-encoder", "--dataset", "shapes", "--image-size", "32",
                   "--steps", "20", "--log-every", "10", "--classes-per-batch", "8",
                   "--captions-per-class", "2", "--emb-dim", "32", "--max-length", "110",
                   "--conv-features", "32", "32", "--cnn-dim", "32", "--out", out,
                   "--no-progress"]) == 0
  result = json.load(open(f"{out}/eval.json"))
  for split in ("validation", "test"):
    assert 0.0 <= result[f"{split}_zero_shot_top1"] <= 1.0 and 0 <= result[f"{split}_ap_at_50"] <= 1
  assert (tmp_path / "te" / "samples.png").exists()
  capsys.readouterr()
  assert cli.main(["train", "text-encoder", "--dataset", "digits", "--out", str(tmp_path / "d"),
                   "--no-progress"]) == 2
  assert "captioned images" in capsys.readouterr().err
  assert not (tmp_path / "d").exists()


@pytest.mark.slow  # 54 s on 2 cores; the fixed features' math and the command line are tested apart
def test_cli_trains_on_fixed_features_from_a_caption_folder(tmp_path, reed_folder, capsys,
                                                           monkeypatch):
  """--image-encoder fixed takes the folder's features/ as the image embeddings (the embedding size
  becomes theirs); without features, or with another --emb-dim, it stops before making a run. The
  final evaluation keeps the test captions' embeddings, and a StackGAN run on the encoder reads
  them back instead of embedding them again."""
  monkeypatch.setenv("JAXGAN_CACHE", str(tmp_path / "cache"))
  real, embedded = te.embed_captions, []
  monkeypatch.setattr(te, "embed_captions", lambda s, c: embedded.append(np.shape(c)) or real(s, c))
  root = reed_folder(tmp_path / "cub", train=("001.A", "004.D", "005.E"), features=np.eye(6)[0])
  out = str(tmp_path / "te")
  assert cli.main(["train", "text-encoder", "--dataset", f"folder:{root}", "--image-size", "32",
                   "--image-encoder", "fixed", "--steps", "4", "--log-every", "2",
                   "--max-length", "110", "--conv-features", "16", "16", "--cnn-dim", "16",
                   "--out", out, "--no-progress"]) == 0
  config = json.load(open(f"{out}/config.json"))["config"]
  assert config["image_encoder"] == "fixed" and config["emb_dim"] == 6
  assert json.load(open(f"{out}/eval.json"))["test_zero_shot_top1"] == 1.0  # one test class
  data = program.load_captioned(program.CaptionSettings(f"folder:{root}", 32), "test")
  test_captions = np.shape(data.test.captions)
  assert test_captions != np.shape(data.train.captions)
  assert test_captions in embedded
  embedded.clear()
  # StackGAN on its text embeddings: no image encoder to read generated images, so no class match.
  gan = str(tmp_path / "s1")
  assert cli.main(["train", "stackgan", "--dataset", f"folder:{root}", "--image-size", "32",
                   "--text-encoder", out, "--steps", "2", "--log-every", "1", "--batch-size", "4",
                   "--gf-dim", "4", "--df-dim", "4", "--out", gan, "--no-progress"]) == 0
  assert json.load(open(f"{gan}/eval.json")) == {}  # (and no attributes outside shapes)
  assert embedded and test_captions not in embedded  # (the training split's, the figure's)
  assert (tmp_path / "s1" / "samples.png").exists()
  capsys.readouterr()
  bare = reed_folder(tmp_path / "bare")
  for dataset, extra, message in ((f"folder:{bare}", [], "has none"),
                                  (f"folder:{root}", ["--emb-dim", "8"], "emb_dim must be 6, not 8")):
    assert cli.main(["train", "text-encoder", "--dataset", dataset, "--image-encoder", "fixed",
                     *extra, "--out", str(tmp_path / "no"), "--no-progress"]) == 2
    assert message in capsys.readouterr().err
  assert not (tmp_path / "no").exists()

