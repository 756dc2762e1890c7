import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import GANConfig, WGANConfig, parallel
from jaxgan.algos import gan, wgan


def _images(n, size=16, seed=0):
  rng = np.random.default_rng(seed)
  return rng.uniform(-1, 1, (n, size, size, 1)).astype(np.float32)


@pytest.mark.parametrize("step_name", ["critic_step", "generator_step"])
def test_wgan_data_parallel_step_equals_single_device(step_name):
  # DCGAN with batch norm: gradients *and* batch statistics must be averaged across devices.
  config = WGANConfig(data_shape=(16, 16, 1), width=8, batch_size=16)
  state = wgan.init(jax.random.key(0), config)
  batch = {"x": jnp.asarray(_images(16))}
  key = jax.random.key(1)
  step = getattr(wgan, step_name)
  single, m_single = jax.jit(step)(state, batch, key)
  multi, m_multi = parallel.data_parallel(step, parallel.make_mesh(4))(state, batch, key)
  chex.assert_trees_all_close(multi, single, atol=1e-5, rtol=1e-5)
  chex.assert_trees_all_close(m_multi, m_single, atol=1e-5, rtol=1e-5)


def test_gan_train_step_data_parallel_equals_single_device():
  # The whole generator iteration (k = 2 discriminator steps drawing from device data).
  config = GANConfig.toy(k=2, batch_size=32)
  state = gan.init(jax.random.key(0), config)
  data = {"x": jnp.asarray(np.random.default_rng(0).normal(size=(100, 2)).astype(np.float32))}
  key = jax.random.key(3)
  single, _ = jax.jit(gan.train_step)(state, data, key)
  multi, _ = parallel.data_parallel(gan.train_step, parallel.make_mesh(4), split_batch=False)(
      state, data, key)
  chex.assert_trees_all_close(multi, single, atol=1e-5, rtol=1e-5)


def test_batch_that_does_not_split_is_refused():
  config = WGANConfig(data_shape=(16, 16, 1), width=8, batch_size=6)
  state = wgan.init(jax.random.key(0), config)
  step = parallel.data_parallel(wgan.critic_step, parallel.make_mesh(4))
  with pytest.raises(ValueError, match="multiple of 4"):
    step(state, {"x": jnp.zeros((6, 16, 16, 1))}, jax.random.key(0))


def test_frames_adversarial_iteration_data_parallel_equals_single_device(tiny_frame_networks):
  # Next-frame prediction, D step then G step, each drawing its own windows from the sequences.
  from jaxgan.algos import frames

  # two scales of tiny networks keep the two compilations short (16 s each for the official
  # script's small networks at one scale)
  config = frames.FramesConfig.row("adv-gdl", (16, 16, 1), networks="tiny", scales=(2, 1))
  state = jax.jit(frames.init, static_argnums=1)(jax.random.key(0), config)
  data = {"x": jnp.asarray(np.random.default_rng(0).integers(0, 256, (12, 6, 16, 16, 1), np.uint8))}
  key = jax.random.key(2)
  single, m_single = jax.jit(frames.train_step)(state, data, key)
  multi, m_multi = parallel.data_parallel(frames.train_step, parallel.make_mesh(4),
                                          split_batch=False)(state, data, key)
  chex.assert_trees_all_close(multi, single, atol=1e-5, rtol=1e-5)
  chex.assert_trees_all_close(m_multi, m_single, atol=1e-5, rtol=1e-5)
