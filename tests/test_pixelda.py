"""PixelDA: its losses against hand-computed values, its networks against their definitions, the
flow of gradients between G, D and T, reproducibility, and a short run that adapts."""

import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import losses, optim, parallel
from jaxgan.algos import pixelda
from jaxgan.nets import pixelda as nets

# Without D's dropout and noise (tested on their own below), so that a data-parallel step equals the
# one-device step and every test shares one compilation of it.
TINY = dict(data_shape=(8, 8, 3), generator_filters=8, generator_blocks=1, discriminator_filters=8,
            batch_size=8, keep_prob=1.0, noise_std=0.0)


init = jax.jit(pixelda.init, static_argnums=1)
adapt = jax.jit(pixelda.adapt)


def _data(n=20, seed=0):
  rng = np.random.default_rng(seed)
  return {"source_x": jnp.asarray(rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)),
          "source_y": jnp.asarray(rng.integers(0, 10, n).astype(np.int32)),
          "target_x": jnp.asarray(rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8))}


def _batch(seed=0, n=8):
  return pixelda.draw_batch(_data(seed=seed), jax.random.key(seed), n)


# ---- losses ---------------------------------------------------------------------------------------

def test_masked_pairwise_mse_by_hand():
  target = jnp.array([[[1.0, 2.0], [3.0, 4.0]]])[..., None]  # one image, k = 4 values
  pred = jnp.zeros_like(target)
  # d = (1, 2, 3, 4): ||d||^2 / k - (sum d)^2 / k^2 = 30 / 4 - 100 / 16
  assert float(losses.masked_pairwise_mse(pred, target)) == pytest.approx(1.25)
  mask = jnp.array([[[1.0, 0.0], [1.0, 0.0]]])[..., None]  # d o m = (1, 0, 3, 0): 10 / 4 - 16 / 16
  assert float(losses.masked_pairwise_mse(pred, target, mask)) == pytest.approx(1.5)
  # an offset of the whole image costs nothing: the loss compares pairs of pixels
  assert float(losses.masked_pairwise_mse(target + 0.7, target)) == pytest.approx(0.0, abs=1e-6)


def test_tensorflow_pairwise_mse_is_2k_over_k_minus_1_times_eq5():
  # TensorFlow's mean_pairwise_squared_error: the mean over pairs i < j of (d_i - d_j)^2.
  rng = np.random.default_rng(0)
  pred, target = rng.normal(size=(1, 3, 2, 1)), rng.normal(size=(1, 3, 2, 1))
  d = (target - pred).ravel()
  k = d.size
  tf_value = np.mean([(d[i] - d[j]) ** 2 for i, j in itertools.combinations(range(k), 2)])
  eq5 = float(losses.masked_pairwise_mse(jnp.asarray(pred), jnp.asarray(target)))
  assert tf_value == pytest.approx(2 * k / (k - 1) * eq5, rel=1e-5)


def test_cross_entropy_by_hand():
  logits = jnp.array([[0.0, 0.0], [np.log(3.0), 0.0]])
  # -log(1/2) and -log(3/4), averaged
  assert float(losses.cross_entropy(logits, jnp.array([0, 0]))) == pytest.approx(
      (np.log(2) - np.log(0.75)) / 2, rel=1e-6)


def test_dropout_keeps_keep_prob_of_the_units_and_noise_only_in_training():
  h = jnp.ones((200_000,))
  out = np.asarray(nets.activation_noise(h, jax.random.key(0), keep_prob=0.9, noise_std=0.0))
  assert np.mean(out == 0) == pytest.approx(0.1, abs=0.005)  # keep 0.9: 10% dropped, not 90%
  np.testing.assert_allclose(out[out != 0], 1 / 0.9, rtol=1e-6)
  noisy = np.asarray(nets.activation_noise(h, jax.random.key(1), keep_prob=1.0, noise_std=0.2))
  assert np.std(noisy) == pytest.approx(0.2, rel=0.02)
  assert nets.activation_noise(h, None, 0.9, 0.2) is h  # evaluation: the identity


def test_discriminator_regularises_in_training_only():
  d = nets.DomainDiscriminator(filters=4)
  x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (4, 8, 8, 3)).astype(np.float32))
  variables = d.init({"params": jax.random.key(0)}, x, train=False)
  apply = jax.jit(d.apply, static_argnames=("train", "mutable"))
  evaluate = lambda: apply(variables, x, train=False)
  np.testing.assert_array_equal(evaluate(), evaluate())
  train = lambda k: apply(variables, x, train=True, rngs={"dropout": jax.random.key(k)},
                          mutable=("batch_stats",))[0]
  assert not np.allclose(train(1), train(2))  # dropout and noise drawn per call
  np.testing.assert_array_equal(train(1), train(1))


def test_clip_by_norm_per_variable_is_slims():
  grads = {"a": jnp.array([6.0, 8.0]), "b": jnp.array([0.3, 0.4])}  # norms 10 and 0.5
  tx = optim.clip_by_norm_per_variable(5.0)
  clipped, _ = tx.update(grads, tx.init(grads))
  np.testing.assert_allclose(clipped["a"], [3.0, 4.0], rtol=1e-6)  # scaled to norm 5 on its own
  np.testing.assert_allclose(clipped["b"], [0.3, 0.4], rtol=1e-6)  # (a global clip scales it too)


def test_same_padding_is_tensorflows():
  assert nets.same_padding(16, 3, 2) == (0, 1)  # even input, stride 2: the extra at the end
  assert nets.same_padding(7, 3, 2) == (1, 1)
  assert nets.same_padding(16, 5, 1) == (2, 2)


def test_max_pool_is_slims_valid_2x2():
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 5, 5, 3)).astype(np.float32))
  expected = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
  np.testing.assert_array_equal(nets.max_pool_2x2(x), expected)


# ---- networks and gradients -----------------------------------------------------------------------

def test_generator_keeps_the_target_shape_and_range():
  config = pixelda.PixelDAConfig(**TINY)
  state = init(jax.random.key(0), config)
  x = _batch()["source_x"]
  out = adapt(state, jax.random.key(1), x)
  assert out.shape == x.shape
  assert float(jnp.max(jnp.abs(out))) <= 1.0
  # the noise matters: two draws give two images
  assert not np.allclose(out, adapt(state, jax.random.key(2), x))


def test_private_first_convolution_is_used_by_the_right_images():
  config = pixelda.PixelDAConfig(**TINY)
  params = init(jax.random.key(0), config).discriminator.params["task"]
  x = _batch()["source_x"]
  grad = lambda tower: jax.grad(lambda p: jnp.sum(pixelda.task_logits(config, p, x, tower)))(params)
  g_source, g_adapted = grad("source"), grad("adapted")
  assert float(jnp.abs(g_source["conv1_source"]["kernel"]).sum()) > 0
  assert float(jnp.abs(g_source["conv1_adapted"]["kernel"]).sum()) == 0
  assert float(jnp.abs(g_adapted["conv1_adapted"]["kernel"]).sum()) > 0
  assert float(jnp.abs(g_adapted["conv1_source"]["kernel"]).sum()) == 0
  assert float(jnp.abs(g_source["conv2"]["kernel"]).sum()) > 0  # shared
  assert float(jnp.abs(g_adapted["conv2"]["kernel"]).sum()) > 0


d_step, g_step = jax.jit(pixelda.discriminator_step), jax.jit(pixelda.generator_step)
train_step = jax.jit(pixelda.train_step)


def _changed(a, b):
  return any(not np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_d_step_trains_d_and_t_and_the_g_step_trains_g_through_t():
  config = pixelda.PixelDAConfig(**TINY)
  state = init(jax.random.key(0), config)
  after_d, m = d_step(state, _batch(), jax.random.key(1))
  task, task_after = state.discriminator.params["task"], after_d.discriminator.params["task"]
  assert _changed(task["conv1_source"], task_after["conv1_source"])    # CE on source images
  assert _changed(task["conv1_adapted"], task_after["conv1_adapted"])  # CE on adapted images
  assert _changed(state.discriminator.params["domain"], after_d.discriminator.params["domain"])
  assert not _changed(state.generator, after_d.generator)  # G fixed, its statistics too
  assert {"d_loss", "task_loss", "d_real", "d_fake"} <= set(m)
  # T's loss in the D step: CE of the source tower on x_s plus CE of the adapted tower on G(x_s)
  k_g, _ = jax.random.split(jax.random.key(1))
  fake, _ = pixelda._adapted(state, _batch(), k_g, None)
  y = _batch()["source_y"]
  expected = (losses.cross_entropy(pixelda.task_logits(config, task, _batch()["source_x"], "source"), y)
              + losses.cross_entropy(pixelda.task_logits(config, task, fake, "adapted"), y))
  assert float(m["task_loss"]) == pytest.approx(float(expected), rel=1e-5)

  after_g, m = g_step(state, _batch(1), jax.random.key(2))
  assert _changed(state.generator.params, after_g.generator.params)
  assert not _changed(state.discriminator, after_g.discriminator)  # D and T fixed
  assert {"g_loss", "g_task_loss"} <= set(m)

  # G's task loss reaches G through T: with no discriminator, no content loss and no L2 it is
  # G's only loss, and G moves.
  only_task = pixelda.PixelDAConfig(**TINY, adversarial=False, weight_decay=0.0)
  s = init(jax.random.key(0), only_task)
  moved, m = g_step(s, _batch(1), jax.random.key(2))
  assert _changed(s.generator.params, moved.generator.params) and set(m) == {"g_task_loss"}


def test_l2_sums_the_kernels_only():
  params = {"conv": {"kernel": jnp.array([1.0, 2.0]), "bias": jnp.array([10.0])},
            "bn": {"bias": jnp.array([5.0])}, "fc": {"kernel": jnp.array([[3.0]])}}
  assert float(pixelda.l2(params)) == pytest.approx((1 + 4 + 9) / 2)


def test_same_key_bitwise_identical_parameters():
  config = pixelda.PixelDAConfig(**TINY)
  data = _data()

  def run():
    state = init(jax.random.key(0), config)
    for i in range(3):
      state, _ = train_step(state, data, jax.random.key(i))
    return state

  chex.assert_trees_all_equal(run(), run())


@pytest.mark.slow  # 34 s on 2 cores; vmapping the seeds is the run layer's, tested on the GAN steps
def test_train_step_vmaps_over_seeds():
  config = pixelda.PixelDAConfig(**TINY)
  data, keys = _data(), jax.random.split(jax.random.key(0), 2)
  states = jax.jit(jax.vmap(pixelda.init, in_axes=(0, None)), static_argnums=1)(keys, config)
  batched, _ = jax.jit(jax.vmap(pixelda.train_step, in_axes=(0, None, 0)))(
      states, data, jax.random.split(jax.random.key(1), 2))
  for i in range(2):
    one, _ = train_step(init(keys[i], config), data,
                                         jax.random.split(jax.random.key(1), 2)[i])
    chex.assert_trees_all_close(jax.tree.map(lambda x: x[i], batched), one, atol=1e-5, rtol=1e-5)


@pytest.mark.slow  # 31 s on 2 cores; the GAN, WGAN and Stage-I data-parallel tests stay
def test_data_parallel_train_step_equals_single_device():
  # (Dropout and D's noise are drawn per device; TINY has neither.)
  config = pixelda.PixelDAConfig(**TINY)
  state, data, key = init(jax.random.key(0), config), _data(), jax.random.key(3)
  single, m_single = train_step(state, data, key)
  multi, m_multi = parallel.data_parallel(pixelda.train_step, parallel.make_mesh(4),
                                          split_batch=False)(state, data, key)
  chex.assert_trees_all_close(multi, single, atol=1e-5, rtol=1e-5)
  chex.assert_trees_all_close(m_multi, m_single, atol=1e-5, rtol=1e-5)


def test_configs_that_cannot_learn_are_refused():
  with pytest.raises(ValueError, match="no loss to learn from"):
    pixelda.PixelDAConfig(**TINY, adversarial=False, task_tower_in_g_step=False)
  with pytest.raises(ValueError, match="--no-adversarial"):
    pixelda.PixelDAConfig(**TINY, domain_loss_weight=0.0)


@pytest.mark.parametrize("field,value", [("keep_prob", 0.0), ("keep_prob", 1.5), ("batch_size", 0),
                                         ("noise_std", -0.1), ("domain_loss_weight", -1.0),
                                         ("data_shape", (16, 16)), ("data_shape", (4, 4, 3))])
def test_invalid_hyperparameters_fail_with_the_field_named(field, value):
  with pytest.raises(ValueError, match=field.split("_")[0]):
    pixelda.PixelDAConfig(**{**TINY, field: value})
