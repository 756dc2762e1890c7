import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import GANConfig, WGANConfig
from jaxgan.algos import cgan, gan, wgan

POINTS = {"x": jnp.asarray(np.random.default_rng(0).normal(size=(512, 2)).astype(np.float32))}
IMAGES = {"x": jnp.asarray(np.random.default_rng(0).integers(0, 256, (64, 16, 16, 1), np.uint8)),
          "y": jnp.arange(64) % 10}

CASES = {
    "gan": (gan, GANConfig.toy(hidden=(32, 32), batch_size=64), POINTS),
    "cgan": (cgan, cgan.config((16, 16, 1), 10, batch_size=16), IMAGES),
    "wgan": (wgan, WGANConfig(data_shape=(16, 16, 1), width=8, batch_size=16, n_critic_warmup=5), IMAGES),
}


@functools.partial(jax.jit, static_argnums=(0, 4))
def _scan(algo, state, data, key, steps):
  return jax.lax.scan(lambda s, i: algo.train_step(s, data, jax.random.fold_in(key, i)), state,
                      jnp.arange(steps))


def _run(algo, config, data, seed, steps):
  """(state, metrics per step); data and key are arguments, so runs of one config and length
  share one program."""
  key = jax.random.key(seed)
  return _scan(algo, jax.jit(algo.init, static_argnums=1)(key, config), data, key, steps)


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_key_bitwise_identical_different_key_different(name):
  algo, config, data = CASES[name]
  a, _ = _run(algo, config, data, seed=0, steps=50)
  b, _ = _run(algo, config, data, seed=0, steps=50)
  c, _ = _run(algo, config, data, seed=1, steps=50)
  assert int(a.step) == 50
  chex.assert_trees_all_equal(a, b)  # bitwise
  leaves_a, leaves_c = jax.tree.leaves(a.generator.params), jax.tree.leaves(c.generator.params)
  assert any(not np.array_equal(x, y) for x, y in zip(leaves_a, leaves_c))


def test_vmap_over_seeds_equals_separate_runs():
  algo, config, data = CASES["wgan"]
  keys = jax.random.split(jax.random.key(7), 3)
  init = jax.jit(algo.init, static_argnums=1)
  states = jax.jit(jax.vmap(lambda k: algo.init(k, config)))(keys)
  step_keys = jax.random.split(jax.random.key(8), 3)
  batched, metrics = jax.jit(jax.vmap(algo.train_step, in_axes=(0, None, 0)))(states, data, step_keys)
  for i in range(3):
    single, m = jax.jit(algo.train_step)(init(keys[i], config), data, step_keys[i])
    # atol: vmap reorders float sums, and RMSProp's first step (~lr * sign(g) / 0.1) amplifies that
    # noise where a gradient is near 0; steps are 5e-4, so 1e-5 still catches any real mismatch.
    chex.assert_trees_all_close(jax.tree.map(lambda x: x[i], batched), single, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(metrics["wasserstein"][i], m["wasserstein"], rtol=1e-5, atol=1e-7)


def test_wgan_critic_weights_stay_clipped_during_training():
  algo, config, data = CASES["wgan"]
  state, metrics = _run(algo, config, data, seed=0, steps=10)
  for p in jax.tree.leaves(state.critic.params):
    assert float(jnp.max(jnp.abs(p))) <= config.clip
  assert np.all(np.isfinite(metrics["wasserstein"]))


def test_wgan_critic_schedule_is_the_official_one():
  config = WGANConfig()
  n = [int(wgan.critic_iterations(config, jnp.asarray(t))) for t in (0, 24, 25, 26, 499, 500, 501, 1000)]
  assert n == [100, 100, 5, 5, 5, 100, 5, 100]
  _, metrics = _run(wgan, CASES["wgan"][1].__class__(data_shape=(16, 16, 1), width=8, batch_size=16,
                                                    n_critic=2, n_critic_warmup=4, warmup_iterations=2),
                    IMAGES, seed=0, steps=4)
  np.testing.assert_array_equal(metrics["n_critic"], [4, 4, 2, 2])


def test_gan_k_discriminator_steps_per_generator_step():
  config = GANConfig.toy(hidden=(8,), batch_size=8, k=3)
  state = gan.init(jax.random.key(0), config)
  state, _ = jax.jit(gan.train_step)(state, POINTS, jax.random.key(1))
  # Adam's step count: 3 discriminator updates, 1 generator update.
  assert int(state.discriminator.opt_state[0].count) == 3
  assert int(state.generator.opt_state[0].count) == 1


def test_conditional_generator_uses_the_label():
  config = cgan.config((16, 16, 1), 10, batch_size=16)
  state = cgan.init(jax.random.key(0), config)
  key = jax.random.key(1)
  a = gan.generate(state, key, 4, labels=jnp.zeros(4, jnp.int32))
  b = gan.generate(state, key, 4, labels=jnp.ones(4, jnp.int32))
  assert not np.allclose(a, b)


@pytest.mark.parametrize("make,match", [
    (lambda: WGANConfig(clip=0.0), "clip must be > 0"),
    (lambda: WGANConfig(clip=-1.0), "clip must be > 0"),
    (lambda: WGANConfig(n_critic=0), "n_critic must be >= 1"),
    (lambda: WGANConfig(data_shape=(28, 28, 1)), "multiple of 16"),
    (lambda: WGANConfig(arch="resnet"), "unknown arch"),
    (lambda: GANConfig(k=0), "k .* must be >= 1"),
    (lambda: GANConfig(generator_loss="hinge"), "unknown generator_loss"),
    (lambda: GANConfig(batch_size=0), "batch_size must be > 0"),
    (lambda: GANConfig(learning_rate=-1.0), "learning_rate must be > 0"),
])
def test_bad_configs_fail_early(make, match):
  with pytest.raises(ValueError, match=match):
    make()


def test_cgan_needs_classes():
  with pytest.raises(ValueError, match="num_classes"):
    cgan.init(jax.random.key(0), GANConfig(num_classes=0))


@pytest.mark.parametrize("module, config", [
    (gan, GANConfig(data_shape=(16, 16, 1), arch="dcgan", width=8, generator_batch_norm=False)),
    (wgan, WGANConfig(data_shape=(16, 16, 1), width=8, generator_batch_norm=False))])
def test_a_dcgan_generator_without_batch_norm_keeps_it_in_the_critic(module, config):
  """WGAN's Figure 6 (DCGAN generator without batch norm, for both WGAN and GAN): the generator
  has no batch statistics, the discriminator or critic keeps its own."""
  state = jax.eval_shape(lambda k: module.init(k, config), jax.random.key(0))
  critic = state.discriminator if module is gan else state.critic
  assert not jax.tree.leaves(state.generator.batch_stats)
  assert jax.tree.leaves(critic.batch_stats)
