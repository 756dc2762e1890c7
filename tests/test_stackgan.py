"""StackGAN Stage-I: conditioning augmentation, the matching-aware game, the command line."""

import dataclasses
import json
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import cli, losses
from jaxgan.algos import stackgan as sg
from jaxgan.nets import stackgan as nets

# Initialisation run eagerly compiles a program per layer operation (some hundred at 128 px, about
# 8 s of two Stage-II tests on 2 cores); one compiled initialisation is quicker, as in the run layer.
init = jax.jit(sg.init, static_argnums=1)


def test_conditioning_kl_hand_computed():
  """mu = (0, 1), sigma = (1, 2): per dimension -log sigma + (sigma^2 + mu^2 - 1) / 2 = 0 and
  2 - log 2; the mean over dimensions (and the batch)."""
  mu, log_sigma = jnp.array([[0.0, 1.0]]), jnp.array([[0.0, math.log(2.0)]])
  np.testing.assert_allclose(losses.conditioning_kl(mu, log_sigma), (2.0 - math.log(2.0)) / 2,
                             rtol=1e-6)
  # The closed-form KL of N(mu, sigma^2) from N(0, 1): 0.5 (sigma^2 + mu^2 - 1 - log sigma^2).
  mu, log_sigma = jax.random.normal(jax.random.key(0), (2, 4, 8))
  sigma2 = jnp.exp(2 * log_sigma)
  np.testing.assert_allclose(losses.conditioning_kl(mu, log_sigma),
                             jnp.mean(0.5 * (sigma2 + mu ** 2 - 1 - jnp.log(sigma2))), rtol=1e-5)


def test_reparameterization_statistics():
  mu, log_sigma = jnp.array([0.5, -1.0, 2.0]), jnp.array([0.0, math.log(0.5), math.log(2.0)])
  c = jax.vmap(lambda k: nets.reparameterize(k, mu, log_sigma))(
      jax.random.split(jax.random.key(0), 100_000))
  np.testing.assert_allclose(c.mean(0), mu, atol=0.02)
  np.testing.assert_allclose(c.std(0), jnp.exp(log_sigma), rtol=0.02)


def test_matching_aware_loss_hand_computed():
  """Logits 0 everywhere: every term is log 2, so real + (wrong + fake) / 2 = 2 log 2; a
  discriminator that is right about all three pays almost nothing."""
  zero = jnp.zeros(3)
  np.testing.assert_allclose(losses.matching_aware_discriminator_loss(zero, zero, zero),
                             2 * math.log(2.0), rtol=1e-6)
  big = jnp.full(3, 30.0)
  assert losses.matching_aware_discriminator_loss(big, -big, -big) < 1e-6


def test_matching_aware_loss_with_the_unconditional_head_hand_computed():
  """The PyTorch Stage-II's weights: (real + real unconditional) / 2 + (wrong + fake + fake
  unconditional) / 3. Each logit picked so that its cross-entropy is log(1 + e^{+-l}); with
  real = 0 (log 2), real unconditional = ln 3 (log 4/3 paid for calling it real), wrong = 0
  (log 2), fake = -ln 3 (log 4/3 paid for calling it fake), fake unconditional = 0 (log 2)."""
  l3, zero = math.log(3.0), jnp.zeros(2)
  expected = (math.log(2) + math.log(4 / 3)) / 2 + (math.log(2) + math.log(4 / 3) + math.log(2)) / 3
  np.testing.assert_allclose(
      losses.matching_aware_discriminator_loss(zero, zero, zero - l3, zero + l3, zero),
      expected, rtol=1e-6)


@pytest.mark.parametrize("size", [32, 64])
def test_stage1_networks_shapes(size):
  """Shapes through both networks at each Stage-I resolution (traced, not run)."""
  config = sg.StackGANConfig(data_shape=(size, size, 3), emb_dim=24)
  state = jax.eval_shape(lambda k: sg.init(k, config), jax.random.key(0))
  emb = jax.ShapeDtypeStruct((5, 24), jnp.float32)
  images = jax.eval_shape(lambda s, e: sg.generate(s, jax.random.key(2), e), state, emb)
  assert images.shape == (5, size, size, 3)
  g, d = sg.networks(config)
  variables = lambda p: {"params": p.params, "batch_stats": p.batch_stats}
  logits, unconditional = jax.eval_shape(lambda p, x, e: d.apply(variables(p), x, e, train=False),
                                         state.discriminator, images, emb)
  assert logits.shape == (5,) and unconditional is None
  _, mu, log_sigma = jax.eval_shape(
      lambda p, e: g.apply(variables(p), jnp.zeros((5, 100)), e, train=False, sample=False),
      state.generator, emb)
  assert mu.shape == log_sigma.shape == (5, 128)
  assert state.generator.params["Dense_0"]["kernel"].shape == (228, 4 * 4 * 8 * 128)


@pytest.mark.parametrize("size", [128, 256])
def test_stage2_networks_shapes_and_the_stage1_image_they_refine(size, monkeypatch):
  """Stage-II at each resolution refines 4x smaller Stage-I images; the Stage-I images inside its
  generate are exactly what Stage-I's generate gives for the same key (compared at 128 px; the
  shapes are traced, which needs no compilation)."""
  s1_config = sg.StackGANConfig(data_shape=(size // 4, size // 4, 3), emb_dim=24, gf_dim=8, df_dim=8)
  config = sg.StackGANConfig(data_shape=(size, size, 3), stage=2, emb_dim=24, gf_dim=8, df_dim=8)
  stage1_images = sg._stage1_images
  _, d = sg.networks(config)

  def run(key, emb):
    stage1 = sg.init(jax.random.key(0), s1_config)
    state = sg.init(jax.random.key(1), config, stage1)
    seen = []  # the Stage-I images inside Stage-II's generate (traced here, returned below)
    monkeypatch.setattr(sg, "_stage1_images", lambda *a: seen.append(stage1_images(*a)) or seen[-1])
    images = sg.generate(state, key, emb)
    logits, _ = d.apply({"params": state.discriminator.params,
                         "batch_stats": state.discriminator.batch_stats}, images, emb, train=False)
    return images, logits, seen[0], sg.generate(stage1, key, emb)

  args = jax.random.key(3), jax.random.normal(jax.random.key(2), (3, 24))
  images, logits, inside, stage1_alone = jax.eval_shape(run, *args)
  assert images.shape == (3, size, size, 3) and logits.shape == (3,)
  assert inside.shape == stage1_alone.shape == (3, size // 4, size // 4, 3)
  if size == 128:  # values of the two Stage-I image sets alone: XLA prunes the Stage-II networks
    inside, stage1_alone = jax.jit(lambda *a: run(*a)[2:])(*args)
    np.testing.assert_array_equal(inside, stage1_alone)


def test_stage1_residual_draws_a_correction_of_the_upsampled_stage1_image():
  """With ``stage1_residual`` a zero correction (the RGB convolution zeroed) returns the Stage-I
  image bilinearly up-sampled 4x (pixels clipped to +-0.99); without it, a zero image."""
  stage1_image = jax.random.uniform(jax.random.key(0), (2, 32, 32, 3), minval=-1, maxval=1)
  emb = jax.random.normal(jax.random.key(1), (2, 8))
  up = np.clip(jax.image.resize(stage1_image, (2, 128, 128, 3), "bilinear"), -0.99, 0.99)
  for residual, expected in ((True, up), (False, np.zeros_like(up))):
    g = nets.StageIIGenerator(gf_dim=4, c_dim=4, res_blocks=1, stage1_residual=residual)
    variables = g.init({"params": jax.random.key(2), "ca": jax.random.key(3)}, stage1_image, emb,
                       train=False)
    last = max((k for k in variables["params"] if k.startswith("Conv")), key=lambda k: int(k[5:]))
    drawn = lambda v: g.apply(v, stage1_image, emb, train=True, rngs={"ca": jax.random.key(4)},
                              mutable=["batch_stats"])[0][0]
    assert float(jnp.max(jnp.abs(drawn(variables) - expected))) > 1e-3  # a correction at init
    zeroed = jax.tree.map(jnp.zeros_like, variables["params"][last])
    variables = {**variables, "params": {**variables["params"], last: zeroed}}
    np.testing.assert_allclose(drawn(variables), expected, atol=1e-5)
  with pytest.raises(ValueError, match="Stage-II option"):
    sg.StackGANConfig(data_shape=(32, 32, 3), stage1_residual=True)


def test_colour_consistency_hand_computed():
  """Two one-row images of two pixels against a 2x2 reference: the colour means and covariances
  (over each image's own pixels) worked by hand."""
  a = jnp.array([[[[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]]]])        # mean (0, 0, 0), var_r 1
  b = jnp.array([[[[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]],
                  [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]]])          # mean 0.5 each, covariance 0
  mean, cov = losses.colour_statistics(a)
  np.testing.assert_allclose(mean, [[0.0, 0.0, 0.0]])
  np.testing.assert_allclose(cov, [np.diag([1.0, 0.0, 0.0])])
  # means differ by 0.5 in 3 channels: 3 * 0.25 / 3; covariances by 1 in 1 of 9 entries: 5 / 9
  np.testing.assert_allclose(losses.colour_consistency(a, b), 0.25 + 5.0 / 9.0, rtol=1e-6)
  np.testing.assert_allclose(losses.colour_consistency(b, b), 0.0)


def test_pooled_l1_hand_computed():
  """A 4x4 image pooled 2x2 to a 2x2 reference: block means 1, 2, 3, 0 against 1, 1, 1, 1."""
  blocks = jnp.array([[1.0, 2.0], [3.0, 0.0]])
  image = jnp.repeat(jnp.repeat(blocks, 2, 0), 2, 1) + jnp.tile(jnp.array([[0.5, -0.5], [-0.5, 0.5]]), (2, 2))
  np.testing.assert_allclose(losses.pooled_l1(image[None, :, :, None], jnp.ones((1, 2, 2, 1))),
                             (0 + 1 + 2 + 1) / 4)
  with pytest.raises(ValueError, match="integer multiples"):
    losses.pooled_l1(jnp.zeros((1, 5, 5, 1)), jnp.zeros((1, 2, 2, 1)))


# colour consistency (StackGAN++'s term, not the one the shapes benchmark uses) is slow: two
# 128 px generator steps of its own; the hand-computed test keeps its value in the default suite.
@pytest.mark.parametrize("term", [pytest.param("colour_consistency", marks=pytest.mark.slow),
                                  "stage1_consistency"])
def test_stage1_consistency_terms_enter_the_stage2_generator_loss(term):
  """With a weight, Stage-II's generator step reports the term (its images against the Stage-I
  images they refine), and its update differs from the step without it (same key)."""
  tiny = dict(emb_dim=8, z_dim=4, c_dim=4, gf_dim=4, df_dim=4, batch_size=4, res_blocks=1)
  stage1 = init(jax.random.key(0), sg.StackGANConfig(data_shape=(32, 32, 3), **tiny))
  config = sg.StackGANConfig(data_shape=(128, 128, 3), stage=2, **{term: 50.0}, **tiny)
  state = init(jax.random.key(1), config, stage1)
  batch = {"x": jax.random.uniform(jax.random.key(2), (4, 128, 128, 3), minval=-1, maxval=1),
           "emb": jax.random.normal(jax.random.key(3), (4, 8))}
  step = jax.jit(sg.generator_step)
  with_term, metrics = step(state, batch, jax.random.key(4))
  assert float(metrics[term]) > 0
  without, plain = step(state.replace(config=dataclasses.replace(config, **{term: 0.0})),
                        batch, jax.random.key(4))
  assert term not in plain
  np.testing.assert_array_equal(metrics["g_loss"], plain["g_loss"])  # the same draws
  moved = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), with_term.generator.params,
                       without.generator.params)
  assert max(jax.tree.leaves(moved)) > 1e-6
  with pytest.raises(ValueError, match=f"{term} must be >= 0"):
    dataclasses.replace(config, **{term: -1.0})
  with pytest.raises(ValueError, match="ties Stage-II"):
    sg.StackGANConfig(data_shape=(32, 32, 3), **{term: 1.0})


def test_random_crop_is_a_crop_of_the_upsampled_image_at_the_drawn_offset():
  x = jax.random.uniform(jax.random.key(0), (3, 16, 16, 3), minval=-1, maxval=1)
  key = jax.random.key(1)
  out = sg.random_crop(key, x, 19 / 16)
  up = jax.image.resize(x, (3, 19, 19, 3), "bilinear")
  offsets = np.asarray(jax.random.randint(key, (3, 2), 0, 4))
  for i, (a, b) in enumerate(offsets):
    np.testing.assert_array_equal(out[i], up[i, a:a + 16, b:b + 16])
  assert len({tuple(o) for o in offsets}) > 1  # the images move independently
  np.testing.assert_array_equal(sg.random_crop(key, x, 1.0), x)  # nothing to crop: as drawn
  data = {"x": jnp.asarray((x + 1) * 127.5, jnp.uint8), "emb": jnp.ones((3, 2, 4))}
  plain = sg.draw_batch(data, key, 4, 2)
  cropped = sg.draw_batch(data, key, 4, 2, crop=True)
  np.testing.assert_array_equal(plain["emb"], cropped["emb"])  # the same draws, the images cropped
  assert cropped["x"].shape == plain["x"].shape and not np.array_equal(cropped["x"], plain["x"])


def test_translate_shifts_each_image_by_its_drawn_offset_with_zeros_shifted_in():
  x = jax.random.uniform(jax.random.key(0), (6, 16, 16, 3), minval=-1, maxval=1)
  key = jax.random.key(1)
  out = np.asarray(sg.translate(key, x))  # r = 16 / 8 = 2
  shifts = np.asarray(jax.random.randint(key, (6, 2), jnp.array([-2, -2]), jnp.array([3, 3])))
  for i, (dy, dx) in enumerate(shifts):
    expected = np.zeros((16, 16, 3), np.float32)
    src = np.asarray(x[i])[max(0, -dy):16 - max(0, dy), max(0, -dx):16 - max(0, dx)]
    expected[max(0, dy):max(0, dy) + src.shape[0], max(0, dx):max(0, dx) + src.shape[1]] = src
    np.testing.assert_array_equal(out[i], expected)
  assert len({tuple(s) for s in shifts}) > 1  # the images move independently


def test_cutout_zeroes_a_half_side_square_at_the_drawn_centre():
  x = jnp.ones((8, 16, 16, 3))
  key = jax.random.key(2)
  out = np.asarray(sg.cutout(key, x))  # an 8 x 8 square, clipped at the border
  centres = np.asarray(jax.random.randint(key, (8, 2), 0, jnp.array([17, 17])))
  for i, (cy, cx) in enumerate(centres):
    expected = np.ones((16, 16, 3), np.float32)
    expected[max(0, cy - 4):cy + 4, max(0, cx - 4):cx + 4] = 0.0
    np.testing.assert_array_equal(out[i], expected)
  assert (out == 0).any() and (out == 1).any()


def test_diff_augment_is_linear_in_the_image_so_gradients_reach_the_generator():
  """Translation and cutout move or zero pixels: the augmentation of a sum is the sum of the
  augmentations (same key), and the gradient of a weighted sum is the transposed map, 0 or 1 per
  pixel, not zero everywhere."""
  a, b = jax.random.normal(jax.random.key(0), (2, 4, 16, 16, 3))
  key = jax.random.key(3)
  np.testing.assert_allclose(sg.diff_augment(key, a + b), sg.diff_augment(key, a) + sg.diff_augment(key, b),
                             atol=1e-6)
  grad = jax.grad(lambda x: jnp.sum(sg.diff_augment(key, x)))(a)
  assert set(np.unique(np.asarray(grad)).tolist()) == {0.0, 1.0}


@pytest.mark.slow  # four train-step programs (78 s on 2 cores); the augmentation's own tests stay
def test_diff_augment_changes_what_both_players_see_and_nothing_else():
  """With --diff-augment the discriminator judges augmented images in both steps: the losses move,
  the draws of the rest (the noise, the text, the Stage-I images) stay as they were."""
  tiny = dict(emb_dim=8, z_dim=4, c_dim=4, gf_dim=4, df_dim=4, batch_size=4)
  config = sg.StackGANConfig(data_shape=(32, 32, 3), **tiny)
  state = sg.init(jax.random.key(0), config)
  batch = {"x": jax.random.uniform(jax.random.key(2), (4, 32, 32, 3), minval=-1, maxval=1),
           "emb": jax.random.normal(jax.random.key(3), (4, 8))}
  augmented = state.replace(config=dataclasses.replace(config, diff_augment=True))
  for step in (sg.discriminator_step, sg.generator_step):
    _, plain = jax.jit(step)(state, batch, jax.random.key(4))
    _, aug = jax.jit(step)(augmented, batch, jax.random.key(4))
    assert plain.keys() == aug.keys()
    loss = "d_loss" if step is sg.discriminator_step else "g_loss"
    assert abs(float(plain[loss]) - float(aug[loss])) > 1e-6
  np.testing.assert_array_equal(plain["kl"], aug["kl"])  # the generator step's: the same draws


def test_stage2_trains_on_stage1_images_drawn_with_their_batch_statistics():
  """As in both official codes, the fixed Stage-I generator runs with the batch's statistics while
  Stage-II trains, and with its running statistics when sampling: moving the stored running
  statistics leaves the training fakes exactly as they were (unless the config asks for the
  running statistics) and changes the samples."""
  tiny = dict(emb_dim=8, z_dim=4, c_dim=4, gf_dim=4, df_dim=4, batch_size=4, res_blocks=1)
  stage1 = init(jax.random.key(0), sg.StackGANConfig(data_shape=(32, 32, 3), **tiny))
  state = init(jax.random.key(1), sg.StackGANConfig(data_shape=(128, 128, 3), stage=2, **tiny),
               stage1)
  moved = state.replace(stage1={**state.stage1, "batch_stats": jax.tree.map(
      lambda s: s + 3.0, state.stage1["batch_stats"])})
  z, emb = jax.random.normal(jax.random.key(2), (4, 4)), jax.random.normal(jax.random.key(4), (4, 8))
  fakes = jax.jit(lambda s: sg._fake(s, z, emb, jax.random.key(3))[0][0])
  np.testing.assert_array_equal(fakes(state), fakes(moved))
  running = lambda s: s.replace(config=dataclasses.replace(s.config, stage1_batch_statistics=False))
  assert float(jnp.max(jnp.abs(fakes(running(state)) - fakes(running(moved))))) > 1e-3
  # sampling's Stage-I images (those inside generate: test_stage2_networks_shapes_...)
  stage1_samples = jax.jit(lambda s: sg._stage1_images(s, z, emb, jax.random.key(3)))
  before, after = stage1_samples(state), stage1_samples(moved)
  assert float(jnp.max(jnp.abs(before - after))) > 0.5 * float(jnp.max(jnp.abs(before))) > 0


@pytest.mark.slow  # 60 s on 2 cores; its loss is hand-computed in the default suite
def test_the_unconditional_head_reads_the_image_alone_and_enters_both_losses():
  """The head is one 4x4 convolution on the 4x4 image features (4 df channels at 32 px): another text
  leaves it unchanged while the conditional logits move. Both players' losses take it: a step
  with the head differs from one without from the same key."""
  # the config of test_train_step_is_reproducible_..., with the head: the step without it is the
  # program that test compiles (shared in a process and through the suite's compilation cache)
  config = sg.StackGANConfig(data_shape=(32, 32, 3), emb_dim=16, gf_dim=8, df_dim=8,
                             batch_size=16, unconditional_head=True)
  state = sg.init(jax.random.key(0), config)
  assert state.discriminator.params["unconditional"]["kernel"].shape == (4, 4, 32, 1)
  _, d = sg.networks(config)
  x = jax.random.normal(jax.random.key(1), (4, 32, 32, 3))
  e1, e2 = jax.random.normal(jax.random.key(2), (2, 4, 16))
  variables = {"params": state.discriminator.params, "batch_stats": state.discriminator.batch_stats}
  (c1, u1), (c2, u2) = (d.apply(variables, x, e, train=False) for e in (e1, e2))
  np.testing.assert_array_equal(u1, u2)
  assert float(jnp.max(jnp.abs(c1 - c2))) > 1e-4
  data = _data()
  without = sg.init(jax.random.key(0), dataclasses.replace(config, unconditional_head=False))
  (with_head, m_with), (_, m_plain) = (jax.jit(sg.train_step)(s, data, jax.random.key(3))
                                          for s in (state, without))
  assert float(m_with["g_loss"]) > float(m_plain["g_loss"]) + 0.3  # two -log D terms, each ~log 2
  moved = with_head.discriminator.params["unconditional"]["kernel"] - state.discriminator.params[
      "unconditional"]["kernel"]
  assert float(jnp.max(jnp.abs(moved))) > 1e-5  # the discriminator's loss takes the head


@pytest.mark.parametrize("size", [32, 64, 128, 256])
def test_text_encoders_image_side_at_every_resolution(size):
  from jaxgan.nets.text import ImageEncoder

  out = jax.eval_shape(lambda x: ImageEncoder(emb_dim=16, width=8).init_with_output(
      jax.random.key(0), x)[0], jax.ShapeDtypeStruct((2, size, size, 3), jnp.float32))
  assert out.shape == (2, 16)


def test_bad_stackgan_configs():
  s1 = sg.StackGANConfig(data_shape=(32, 32, 3), emb_dim=24)
  with pytest.raises(ValueError, match="pass its state"):
    sg.init(jax.random.key(0), sg.StackGANConfig(data_shape=(128, 128, 3), stage=2, emb_dim=24))
  with pytest.raises(ValueError, match="--image-size 128"):
    sg.check_stage1(sg.StackGANConfig(data_shape=(256, 256, 3), stage=2, emb_dim=24), s1)
  with pytest.raises(ValueError, match="text embeddings"):
    sg.check_stage1(sg.StackGANConfig(data_shape=(128, 128, 3), stage=2, emb_dim=16), s1)
  with pytest.raises(ValueError, match="--z-dim 100, not 8"):
    sg.check_stage1(sg.StackGANConfig(data_shape=(128, 128, 3), stage=2, emb_dim=24, z_dim=8), s1)
  with pytest.raises(ValueError, match="Stage-I generates 32x32 or 64x64"):
    sg.StackGANConfig(data_shape=(128, 128, 3))
  with pytest.raises(ValueError, match="side 32, 64"):
    sg.StackGANConfig(data_shape=(48, 48, 3))
  with pytest.raises(ValueError, match="kl_weight"):
    sg.StackGANConfig(kl_weight=-1.0)


def _data(n=40, size=32, emb_dim=16):
  """Random images whose ten caption embeddings sit close to one vector per image."""
  rng = np.random.default_rng(0)
  base = rng.normal(size=(n, 1, emb_dim))
  return {"x": jnp.asarray(rng.integers(0, 256, (n, size, size, 3)), jnp.uint8),
          "emb": jnp.asarray(base + 0.1 * rng.normal(size=(n, 10, emb_dim)), jnp.float32)}


def test_train_step_is_reproducible_and_the_discriminator_learns_to_match():
  """Same key, bitwise-identical parameters. With text embeddings that identify their image, a
  few steps teach the discriminator to score real matching pairs above mismatched ones."""
  config = sg.StackGANConfig(data_shape=(32, 32, 3), emb_dim=16, gf_dim=8, df_dim=8, batch_size=16)
  data = _data()
  step = jax.jit(sg.train_step)

  def run(key, n):
    state, gaps = init(key, config), []
    for i in range(n):
      state, m = step(state, data, jax.random.fold_in(key, i))
      gaps.append(float(m["d_real"]) - float(m["d_wrong"]))
    return state, gaps

  a, _ = run(jax.random.key(0), 3)
  b, _ = run(jax.random.key(0), 3)
  chex.assert_trees_all_equal(a.generator.params, b.generator.params)
  chex.assert_trees_all_equal(a.discriminator.params, b.discriminator.params)
  _, gaps = run(jax.random.key(0), 60)
  # D(real image, its text) - D(real image, another's text): near 0 at first, then growing.
  assert np.mean(gaps[-10:]) > 0.1 and np.mean(gaps[-10:]) > 3 * abs(np.mean(gaps[:10]))


def _tiny_stage1(text_encoder: str) -> list[str]:
  """`jaxgan train stackgan` of a 4-step Stage-I at 32 px with tiny networks (no --out)."""
  return ["train", "stackgan", "--stage", "1", "--dataset", "shapes", "--max-examples", "3",
          "--image-size", "32", "--text-encoder", text_encoder, "--steps", "4", "--log-every", "2",
          "--batch-size", "8", "--gf-dim", "4", "--df-dim", "4", "--z-dim", "8", "--c-dim", "8",
          "--e-dim", "8"]


def test_the_evaluation_compiled_in_the_background_is_the_one_it_calls(tmp_path, text_encoder_run):
  """``precompile`` (the loop runs it on another thread while the first chunk trains) compiles
  the evaluation's and the sample figure's programs for the shapes they call them with: the
  evaluation and the figure then compile neither."""
  from jaxgan.algos import stackgan_run, text_encoder
  from jaxrun import LoopConfig, loop, run

  r = run.Run.new(stackgan_run.METHOD, str(tmp_path / "r"), loop=LoopConfig(steps=2, log_every=2),
                  settings=stackgan_run.StackGANSettings("shapes", 32, max_examples=3,
                                                         text_encoder=text_encoder_run),
                  overrides={"batch_size": 8, "gf_dim": 4, "df_dim": 4, "z_dim": 8, "c_dim": 8,
                             "e_dim": 8})
  program = r.program()
  # (without the attribute metrics, whose instrument may not be trained yet in this process)
  program.dataset = dataclasses.replace(program.dataset, test=dataclasses.replace(
      program.dataset.test, attributes=None))
  state = run.committed(program.init())
  for jitted in (stackgan_run._generate, text_encoder._embed_images):
    jitted.clear_cache()
  program.precompile(jax.eval_shape(lambda s: s, state))
  compiled = []

  def listener(event, *_, fun_name=None, **__):
    if event in loop.COMPILE_EVENTS:
      compiled.append(fun_name)

  jax.monitoring.register_event_time_span_listener(listener)
  try:
    program.evaluate(state, 2)
    program.figure(state, str(tmp_path / "samples.png"))
  finally:
    jax.monitoring.unregister_event_time_span_listener(listener)
  assert "_embed_text" in compiled  # (the test captions': this encoder's run did not evaluate)
  assert not {"_generate", "_embed_images"} & set(compiled)


def test_cli_stage1_on_shapes_with_a_text_encoder(tmp_path, capsys, text_encoder_run):
  enc, out = text_encoder_run, str(tmp_path / "s1")
  # (The run layer's StackGAN case trains this config too: the compiled chunk is shared.)
  assert cli.main([*_tiny_stage1(enc), "--out", out, "--no-progress"]) == 0
  record = json.load(open(f"{out}/config.json"))
  assert record["settings"]["text_encoder_step"] == 2  # pinned: a resume reads the same encoder
  config = record["config"]
  assert config["emb_dim"] == 16 and config["kl_weight"] == 2.0 and config["lr_halve_every"] > 0
  result = json.load(open(f"{out}/eval.json"))
  assert 0.0 <= result["test_class_match_generated"] <= 1.0
  assert 0.0 <= result["test_attribute_mean"] <= 1.0 and result["test_frechet"] >= 0.0
  assert (tmp_path / "s1" / "samples.png").exists()
  capsys.readouterr()
  assert cli.main(["sample", out, "--caption", "a large red circle in the centre", "--n", "4",
                   "--out", str(tmp_path / "red.png")]) == 0
  assert cli.main(["sample", out, "--interpolate", "a small blue square", "a big yellow circle",
                   "--steps", "5", "--out", str(tmp_path / "strip.png")]) == 0
  assert (tmp_path / "red.png").exists() and (tmp_path / "strip.png").exists()
  capsys.readouterr()
  assert cli.main(["sample", out, "--caption", "a red circle é", "--out", str(tmp_path / "x.png")]) == 2
  assert "outside the text encoder's alphabet" in capsys.readouterr().err
  assert cli.main(["train", "stackgan", "--dataset", "shapes", "--out", str(tmp_path / "no"),
                   "--no-progress"]) == 2
  assert "--text-encoder DIR" in capsys.readouterr().err
  assert cli.main(["train", "stackgan", "--dataset", "shapes", "--text-encoder", out,
                   "--out", str(tmp_path / "no"), "--no-progress"]) == 2
  assert "holds a stackgan run, not text-encoder" in capsys.readouterr().err
  assert not (tmp_path / "no").exists()

  # Stage-II refuses a Stage-I of another size before any work (its training: the slow test below)
  assert cli.main(["train", "stackgan", "--stage", "2", "--stage1", out, "--dataset", "shapes",
                   "--image-size", "64", "--out", str(tmp_path / "s2"), "--no-progress"]) == 2
  assert "--image-size 128" in capsys.readouterr().err
  assert not (tmp_path / "s2").exists()


@pytest.mark.slow
def test_cli_stage2_refines_a_stage1_run(tmp_path, capsys, text_encoder_run):
  """Stage-II at 4x from the command line, refining a fixed Stage-I (slow: its 128 px programs
  take half a minute to compile on 2 cores; its steps are tested in the default suite)."""
  out = str(tmp_path / "s1")
  assert cli.main([*_tiny_stage1(text_encoder_run), "--no-evaluate", "--out", out,
                   "--no-progress"]) == 0
  s2 = str(tmp_path / "s2")
  assert cli.main(["train", "stackgan", "--stage", "2", "--stage1", out, "--dataset", "shapes",
                   "--image-size", "128", "--max-examples", "3", "--steps", "2", "--log-every", "1",
                   "--batch-size", "4", "--gf-dim", "8", "--df-dim", "4", "--out", s2,
                   "--no-progress"]) == 0
  record = json.load(open(f"{s2}/config.json"))
  assert record["config"]["stage"] == 2 and record["config"]["data_shape"] == [128, 128, 3]
  assert record["settings"]["stage1"] == out and record["settings"]["text_encoder"] == ""
  assert record["settings"]["stage1_step"] == 4  # pinned: a resume refines the same Stage-I
  capsys.readouterr()
  assert cli.main(["train", "stackgan", "--stage", "2", "--stage1", s2, "--dataset", "shapes",
                   "--image-size", "128", "--out", str(tmp_path / "no2"), "--no-progress"]) == 2
  assert "--stage1 takes a StackGAN Stage-I run" in capsys.readouterr().err
  assert 0.0 <= json.load(open(f"{s2}/eval.json"))["test_class_match_generated"] <= 1.0
  assert cli.main(["sample", s2, "--caption", "a small green cross at the top", "--n", "2",
                   "--out", str(tmp_path / "green.png")]) == 0
  from PIL import Image
  assert Image.open(tmp_path / "green.png").size[0] >= 2 * 128


@pytest.mark.slow
def test_a_killed_stage2_run_resumes_to_the_uninterrupted_runs_bits(tmp_path, text_encoder_run):
  """Stage-II's run restores its pinned Stage-I beside its own state: killed after a checkpoint
  and resumed, it ends on the uninterrupted run's parameters and rows, with the options the
  benchmark's refining Stage-II uses (slow: 128 px programs)."""
  from jaxgan.algos import METHODS
  from jaxrun import LoopConfig, run

  s1 = str(tmp_path / "s1")
  assert cli.main([*_tiny_stage1(text_encoder_run), "--no-evaluate", "--out", s1,
                   "--no-progress"]) == 0
  method = METHODS.get("stackgan")
  overrides = {"stage": 2, "batch_size": 4, "gf_dim": 8, "df_dim": 4, "c_dim": 8,
               "unconditional_head": True, "stage1_residual": True, "stage1_consistency": 300.0}

  def new(out):
    return run.Run.new(method, str(tmp_path / out), overrides=overrides,
                       settings=method.settings("shapes", image_size=128, max_examples=3, stage1=s1),
                       loop=LoopConfig(steps=8, log_every=2, checkpoint_every=4, evaluate=False,
                                       sample_every=0))

  full, _ = run.train(new("full"), progress=False)

  def kill(step, state, metrics):
    if step >= 6:
      raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    run.train(new("killed"), progress=False, on_chunk=kill)
  resumed, summary = run.resume(str(tmp_path / "killed"), METHODS, progress=False)
  assert summary["step"] == 8 and "restore" in summary["phases"]
  chex.assert_trees_all_equal(resumed, full)
  rows = lambda out: [{k: v for k, v in json.loads(line).items() if k != "seconds"}
                      for line in (tmp_path / out / "metrics.jsonl").read_text().splitlines()]
  assert rows("killed") == rows("full")


def test_attribute_classifier_reads_real_shapes():
  """The instrument reads real held-out shapes well; real images scored as if generated get its
  own accuracy and Fréchet distance 0; noise images fail."""
  from jaxgan.data import shapes
  from jaxgan.metrics import attributes

  params, own = attributes.train_attribute_classifier()
  assert own["mean"] > 0.9 and own["colour"] > 0.95 and own["position"] > 0.95
  test = shapes.load_shapes(64).test  # another resolution: resized to the classifier's 32
  real = attributes.generated_image_metrics(params, test.x, test.x, test.attributes)
  assert real["attribute_mean"] > 0.9 and abs(real["frechet"]) < 1e-3
  noise = np.random.default_rng(0).integers(0, 256, test.x.shape).astype(np.uint8)
  fake = attributes.generated_image_metrics(params, noise, test.x, test.attributes)
  assert fake["attribute_mean"] < 0.6 and fake["frechet"] > 10 * max(real["frechet"], 1e-3)


def _cached(cache):
  """The results in a cache directory (not the empty ``.lock`` its writers share)."""
  return [p for p in cache.iterdir() if p.name != ".lock"]


def test_the_attribute_classifier_is_trained_once_and_kept_in_the_user_cache(tmp_path, monkeypatch):
  """The first call trains and writes the cache (its seed and accuracy with it); the next reads the
  same parameters back bitwise; a damaged file is trained again; an unwritable cache is gone
  without."""
  from jaxgan.metrics import attributes

  monkeypatch.setenv("JAXGAN_CACHE", str(tmp_path / "cache"))
  uncached = attributes.train_attribute_classifier.__wrapped__  # past the per-process cache
  params, own = uncached(steps=20)
  [path] = _cached(tmp_path / "cache")
  assert "seed0-20x64" in path.name and path.stat().st_size > 10_000
  monkeypatch.setattr(attributes, "_train", lambda *a: pytest.fail("trained again"))
  again, own_again = uncached(steps=20)
  assert own_again == own
  chex.assert_trees_all_equal(again, params)
  path.write_bytes(path.read_bytes()[:100])  # cut short
  monkeypatch.undo()
  monkeypatch.setenv("JAXGAN_CACHE", str(tmp_path / "cache"))
  retrained, _ = uncached(steps=20)
  chex.assert_trees_all_equal(retrained, params)
  assert path.stat().st_size > 10_000
  (tmp_path / "a-file").write_text("")
  monkeypatch.setenv("JAXGAN_CACHE", str(tmp_path / "a-file" / "cache"))  # cannot be made
  assert uncached(steps=20)[1] == own
  from jaxrun import files

  def full(*a):
    raise OSError(28, "No space left on device")

  monkeypatch.setenv("JAXGAN_CACHE", str(tmp_path / "full"))
  monkeypatch.setattr(files, "atomic_write", full)
  assert uncached(steps=20)[1] == own and not _cached(tmp_path / "full")


def test_caption_embeddings_are_kept_in_the_user_cache(tmp_path, monkeypatch, text_encoder_run):
  """A split's caption embeddings are made once per encoder and captions, then read back bitwise;
  other captions or other encoder parameters are embedded again."""
  from jaxgan.algos import stackgan_run, text_encoder

  monkeypatch.setenv("JAXGAN_CACHE", str(tmp_path / "cache"))
  encoder = stackgan_run._restore(text_encoder_run, text_encoder.METHOD, None)
  captions = np.array([["a red circle", "a small blue square"], ["a big green cross", "a red circle"]], object)
  real, calls = text_encoder.embed_captions, []
  monkeypatch.setattr(text_encoder, "embed_captions", lambda e, c: calls.append(1) or real(e, c))
  split_embeddings = text_encoder.split_embeddings
  first = split_embeddings(encoder, captions)
  assert first.shape == (2, 2, encoder.config.emb_dim) and len(calls) == 1
  np.testing.assert_array_equal(first, real(encoder, captions))
  assert len(_cached(tmp_path / "cache")) == 1
  np.testing.assert_array_equal(split_embeddings(encoder, captions), first)
  assert len(calls) == 1  # read back, not embedded again
  other = captions.copy()
  other[0, 0] = "a red square"
  split_embeddings(encoder, other)
  moved = encoder.replace(params=jax.tree.map(lambda x: x + 1.0, encoder.params))
  assert not np.array_equal(split_embeddings(moved, captions), first)
  assert len(calls) == 3 and len(_cached(tmp_path / "cache")) == 3


def test_the_shapes_preset_is_the_papers_with_narrower_networks():
  """On shapes a run takes the paper's settings with the CPU-sized widths by default; a width
  given on the command line wins; other datasets take the paper's widths."""
  import dataclasses

  from jaxgan.algos import stackgan_run

  s1, p1 = sg.StackGANConfig.shapes((32, 32, 3), 1440), sg.StackGANConfig.paper((32, 32, 3), 1440)
  assert (s1.gf_dim, s1.df_dim, p1.gf_dim, p1.df_dim) == (32, 32, 128, 64)
  assert dataclasses.replace(s1, gf_dim=128, df_dim=64) == p1
  s2 = sg.StackGANConfig.shapes((128, 128, 3), 1440, stage=2)
  assert (s2.gf_dim, s2.df_dim, s2.lr_halve_every) == (32, 16, 100 * 1440 // 64)
  assert sg.StackGANConfig.shapes((32, 32, 3), 1440, gf_dim=4).gf_dim == 4
  pick = stackgan_run.METHOD.preset_for
  assert pick(None, stackgan_run.StackGANSettings("shapes")) == "shapes"
  assert pick(None, stackgan_run.StackGANSettings("folder:/data/cub")) == "paper"
