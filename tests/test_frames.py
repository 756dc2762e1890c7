"""Next-frame prediction (Mathieu et al. 2016): losses and metrics against hand-computed values,
the moving-digits renderer and its masks, the multi-scale generator, reproducibility."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import losses
from jaxgan.algos import frames as F
from jaxgan.data import moving
from jaxgan.metrics import frames as M
from jaxgan.nets import frames as nets


@pytest.fixture(autouse=True)  # --networks tiny (conftest): fast to compile, the same structure
def _tiny(tiny_frame_networks):
  pass


def tiny(**kw):
  return F.FramesConfig(**{"frame_shape": (16, 16, 1), "networks": "tiny", "scales": (4, 2, 1),
                           "batch_size": 4, **kw})


# ---- losses ---------------------------------------------------------------------------------------

def test_lp_losses_by_hand():
  y, y_hat = jnp.array([1.0, 3.0, -1.0, 0.0]), jnp.array([0.0, 1.0, -1.0, 2.0])
  assert float(losses.lp_loss(y_hat, y, 1)) == pytest.approx((1 + 2 + 0 + 2) / 4)
  assert float(losses.lp_loss(y_hat, y, 2)) == pytest.approx((1 + 4 + 0 + 4) / 4)
  with pytest.raises(ValueError, match="p = 1 or 2"):
    losses.lp_loss(y_hat, y, 3)


def test_gradient_difference_loss_on_a_3x3_case_by_hand():
  # Y: a ramp along j (neighbour differences 1 along j, 0 along i); Yhat = 0.
  ramp = jnp.array([[0.0, 1.0, 2.0]] * 3)[None, ..., None]
  zero = jnp.zeros_like(ramp)
  # along i: 6 pairs of |0 - 0|; along j: 6 pairs of |1 - 0| -> 0 + 1.
  assert float(losses.gradient_difference_loss(zero, ramp)) == pytest.approx(1.0)
  # Yhat = 2Y: along j |1 - 2| = 1 on every pair; a sharper prediction costs as much as a flat one.
  assert float(losses.gradient_difference_loss(2 * ramp, ramp)) == pytest.approx(1.0)
  # A spike of 3 in the centre: the 6 vertical pairs are (0, 3, 0, 0, 3, 0), the same horizontally.
  spike = jnp.zeros((1, 3, 3, 1)).at[0, 1, 1, 0].set(3.0)
  assert float(losses.gradient_difference_loss(zero, spike)) == pytest.approx(2 * 6 / 6)
  assert float(losses.gradient_difference_loss(zero, spike, alpha=2.0)) == pytest.approx(2 * 18 / 6)
  # Offsets do not change gradients.
  assert float(losses.gradient_difference_loss(spike + 0.5, spike)) == pytest.approx(0.0)


# ---- metrics --------------------------------------------------------------------------------------

def test_psnr_whole_and_masked_by_hand():
  t = jnp.full((1, 4, 4, 1), 0.5)
  p = t + jnp.where(jnp.arange(4)[None, :, None, None] < 2, 0.1, 0.3)  # rows 0-1 off by .1, 2-3 by .3
  mask = jnp.zeros((1, 4, 4), bool).at[:, :2].set(True)
  assert float(M.psnr(p, t, mask)[0]) == pytest.approx(20.0, abs=1e-4)        # 10 log10(1 / 0.01)
  assert float(M.psnr(p, t)[0]) == pytest.approx(10 * math.log10(1 / 0.05), abs=1e-4)
  full = jnp.ones((1, 4, 4), bool)
  assert float(M.psnr(p, t, full)[0]) == pytest.approx(float(M.psnr(p, t)[0]), abs=1e-4)  # = dm-pix
  assert math.isnan(float(M.psnr(p, t, jnp.zeros((1, 4, 4), bool))[0]))  # no moving pixel


def test_ssim_of_constant_frames_is_the_luminance_term():
  a, b = jnp.full((1, 16, 16, 1), 0.5), jnp.full((1, 16, 16, 1), 0.25)
  c1 = 0.01 ** 2
  expected = (2 * 0.5 * 0.25 + c1) / (0.25 + 0.0625 + c1)  # contrast-structure term: C2 / C2
  assert float(M.ssim(a, b)[0]) == pytest.approx(expected, rel=1e-5)
  mask = jnp.zeros((1, 16, 16), bool).at[:, 6:9, 6:9].set(True)
  assert float(M.ssim(a, b, mask)[0]) == pytest.approx(expected, rel=1e-5)


def test_sharpness_difference_of_a_ramp_against_a_flat_frame():
  ramp = jnp.broadcast_to(0.1 * jnp.arange(8.0), (1, 8, 8))[..., None]  # g_j = 0.1, g_i = 0
  flat = jnp.zeros_like(ramp)
  assert float(M.sharpness_difference(flat, ramp)[0]) == pytest.approx(10.0, abs=1e-4)
  # Masked: a mean over the masked pixels (here a half of the frame).
  mask = jnp.zeros((1, 8, 8), bool).at[:, :, 4:].set(True)
  assert float(M.sharpness_difference(flat, ramp, mask)[0]) == pytest.approx(10.0, abs=1e-4)


def test_identical_frames_are_the_metrics_limits():
  x = jax.random.uniform(jax.random.key(0), (2, 16, 16, 3))
  mask = jax.random.uniform(jax.random.key(1), (2, 16, 16)) > 0.5
  values = M.frame_metrics(x, x, mask)
  for area in ("moving", "whole"):
    assert np.all(np.isinf(values["psnr"][area])) and np.all(np.isinf(values["sharpness"][area]))
    np.testing.assert_allclose(values["ssim"][area], 1.0, atol=1e-5)
  noisy = jnp.clip(x + 0.1 * jax.random.normal(jax.random.key(2), x.shape), 0, 1)
  worse = M.frame_metrics(noisy, x, mask)
  assert np.all(worse["ssim"]["whole"] < 0.99) and np.all(np.isfinite(worse["psnr"]["whole"]))


def test_official_variant_counts_static_pixels_and_drops_perfect_frames():
  t = jnp.zeros((2, 8, 8, 1))
  p = t.at[0].add(0.5)  # frame 0 off by 0.5 everywhere, frame 1 exact
  half = jnp.zeros((2, 8, 8), bool).at[:, :4].set(True)
  values = M.official_metrics(p, t, half)
  # static pixels set to -1 in both: half the pixels have error 0.5, MSE = 0.125 over all of them
  assert float(values["psnr"][0]) == pytest.approx(10 * math.log10(255 ** 2 / (128 ** 2 * 0.125)),
                                                   abs=1e-3)
  assert math.isnan(float(values["psnr"][1]))  # PSNR >= 50: left out, as the script does
  # the zero-padded "full" SSIM of identical frames is still 1
  same = M.official_ssim(t + 0.2, t + 0.2)
  np.testing.assert_allclose(same, 1.0, atol=1e-5)


def test_bootstrap_interval_brackets_the_mean_and_drops_nans():
  v = np.array([1.0, 2.0, 3.0, np.nan, 4.0])
  s = M.summarise(v)
  assert s["mean"] == pytest.approx(2.5) and s["low"] <= 2.5 <= s["high"] and s["low"] < s["high"]
  d = M.paired_difference(np.array([2.0, 3.0, 4.0]), np.array([1.0, 1.0, np.nan]))
  assert d["mean"] == pytest.approx(1.5)


# ---- data -----------------------------------------------------------------------------------------

def test_moving_masks_are_exactly_the_pixels_that_changed():
  split = moving.make_sequences(np.random.default_rng(0).uniform(0, 1, (20, 8, 8)), 30, 32,
                                "colour", seed=3)
  x = split.x.astype(int)
  assert split.x.shape == (30, 6, 32, 32, 3) and split.masks.shape == (30, 2, 32, 32)
  for k in range(2):
    now, before = x[:, 4 + k], x[:, 3 + k]
    changed = np.any(now != before, -1)
    np.testing.assert_array_equal(split.masks[:, k], changed)
    assert np.all(now[~split.masks[:, k]] == before[~split.masks[:, k]])
  assert split.masks.mean() > 0.02  # the digits move


def test_a_still_digit_has_no_moving_pixels_and_paths_stay_on_the_canvas():
  digit = np.ones((12, 12), np.float32)
  still = [np.array([[5, 7]] * 6)]
  frames = moving.render([digit], still, 32)
  assert not moving.moving_masks(frames[None]).any()
  rng = np.random.default_rng(0)
  for _ in range(50):
    path = moving.trajectory(rng, 30, 20, 1.0)
    assert path.min() >= 0 and path.max() <= 20
  moved = [np.abs(np.diff(moving.trajectory(rng, 30, 20, 1.0), axis=0)).sum() for _ in range(10)]
  assert min(moved) > 0


def test_moving_digits_splits_are_fixed_and_disjoint():
  a = moving.load_moving_digits(32, sequences={"train": 20, "test": 10})
  b = moving.load_moving_digits(32, sequences={"train": 20, "test": 10})
  np.testing.assert_array_equal(a.train.x, b.train.x)
  assert a.test.x.shape == (10, 6, 32, 32, 1) and not np.array_equal(a.train.x[:10], a.test.x)
  with pytest.raises(ValueError, match="32, 64"):
    moving.load_moving_digits(48)
  with pytest.raises(ValueError, match="unknown background"):
    moving.load_moving_digits(32, "sepia")


# ---- the model ------------------------------------------------------------------------------------

def test_multiscale_generator_shapes_and_its_coarse_to_fine_sum():
  c = tiny()

  @jax.jit  # one program, not an eager run of every operation
  def run(inputs):
    params = F.init(jax.random.key(0), c).generator.params
    preds = F.generate(c, params, inputs)
    g = lambda k, x: nets.ScaleGenerator(*F.NETWORKS["tiny"][0][k + 1], 1).apply({"params": params[f"G{k + 1}"]}, x)
    by_definition = [jnp.tanh(g(0, nets.downsample(inputs, 4)))]
    for k in (1, 2):
      up = nets.upsample(preds[k - 1], 2)
      x = jnp.concatenate([nets.downsample(inputs, c.scales[k]), up], -1)
      by_definition.append(jnp.tanh(up + g(k, x)))
    return preds, by_definition

  preds, by_definition = run(jax.random.uniform(jax.random.key(1), (2, 16, 16, 4), minval=-1, maxval=1))
  assert [p.shape for p in preds] == [(2, 4, 4, 1), (2, 8, 8, 1), (2, 16, 16, 1)]
  for pred, expected in zip(preds, by_definition):
    np.testing.assert_allclose(pred, expected, atol=1e-6)


def test_downsample_is_block_mean_and_upsample_repeats():
  x = jnp.arange(16.0).reshape(1, 4, 4, 1)
  np.testing.assert_allclose(nets.downsample(x, 2)[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])
  np.testing.assert_array_equal(nets.upsample(nets.downsample(x, 4), 4), jnp.full((1, 4, 4, 1), 7.5))


def test_discriminator_gets_one_logit_per_scale_and_prediction_feeds_back():
  c = tiny(loss="adv+gdl+l1")
  state = jax.jit(F.init, static_argnums=1)(jax.random.key(0), c)
  predict = jax.jit(F.predict, static_argnums=2)
  seq = jax.random.uniform(jax.random.key(1), (3, 6, 16, 16, 1), minval=-1, maxval=1)
  two = predict(state, seq[:, :4], 2)
  assert two.shape == (3, 2, 16, 16, 1) and float(jnp.max(jnp.abs(two))) < 1
  fed = jnp.concatenate([seq[:, 1:4], two[:, :1]], 1)
  np.testing.assert_allclose(two[:, 1], predict(state, fed, 1)[:, 0], atol=1e-6)
  # fully convolutional: whole frames of another size (traced)
  assert jax.eval_shape(lambda s, x: F.predict(s, x, 1), state,
                        jnp.zeros((1, 4, 24, 32, 1))).shape == (1, 1, 24, 32, 1)


def test_train_step_updates_both_players_and_is_bitwise_reproducible():
  c = tiny(loss="adv+gdl+l1")
  data = {"x": jnp.asarray(np.random.default_rng(0).integers(0, 256, (10, 6, 16, 16, 1), np.uint8))}
  step, init = jax.jit(lambda s, k: F.train_step(s, data, k)), jax.jit(F.init, static_argnums=1)

  def run(seed):
    state = init(jax.random.key(seed), c)
    for i in range(3):
      state, metrics = step(state, jax.random.key(100 + i))
    return state, metrics

  a, metrics = run(0)
  b, _ = run(0)
  for x, y in zip(jax.tree.leaves((a.generator.params, a.discriminator.params)),
                  jax.tree.leaves((b.generator.params, b.discriminator.params))):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  fresh = init(jax.random.key(0), c)
  moved = lambda p, q: any(not np.array_equal(x, y) for x, y in zip(jax.tree.leaves(p), jax.tree.leaves(q)))
  assert moved(a.generator.params, fresh.generator.params)
  assert moved(a.discriminator.params, fresh.discriminator.params)
  assert {"d_loss", "g_adv", "lp", "gdl"} <= set(metrics) and int(a.step) == 3
  l2_only = init(jax.random.key(0), tiny(loss="l2"))
  assert l2_only.discriminator.params == {}
  _, m = jax.jit(lambda s, k: F.train_step(s, data, k))(l2_only, jax.random.key(0))
  assert "d_loss" not in m and "gdl" not in m


def test_windows_are_drawn_inside_the_sequences():
  c = tiny(batch_size=64)
  x = np.zeros((3, 6, 16, 16, 1), np.uint8)
  x[:, :, 0, 0, 0] = np.arange(6) * 40  # frame t marked with 40 t
  batch = F.draw_batch({"x": jnp.asarray(x)}, jax.random.key(0), c)
  first = np.round((np.asarray(batch["inputs"][:, 0, 0, 0]) + 1) * 127.5 / 40)
  target = np.round((np.asarray(batch["target"][:, 0, 0, 0]) + 1) * 127.5 / 40)
  np.testing.assert_array_equal(target, first + 4)
  assert set(first) == {0.0, 1.0}  # windows of 5 in 6 frames start at 0 or 1


@pytest.mark.parametrize("kw, message", [
    ({"loss": "l2+perceptual"}, "unknown loss term 'perceptual'"),
    ({"loss": "l1+l2"}, "one of l1 and l2"),
    ({"loss": "adv"}, "adds L_p"),
    ({"scales": (3, 1)}, "cannot be down-sampled by \\[3\\]"),
    ({"scales": (1, 2)}, "decreasing down-sampling factors ending in 1"),
    ({"networks": "huge"}, "unknown networks"),
    ({"lambda_gdl": 0.0, "loss": "gdl+l1"}, "gdl with weight 0"),
    ({"generator_lr": 0.0}, "generator_lr must be > 0"),
])
def test_bad_configs_fail_with_a_clear_message(kw, message):
  with pytest.raises(ValueError, match=message):
    tiny(**kw)
