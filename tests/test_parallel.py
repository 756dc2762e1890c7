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


@pytest.mark.slow  # 34 s on 2 cores; the GAN, WGAN and Stage-I data-parallel tests stay
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


# Stage-II (four programs at 128 px: a minute of the suite's 15 on 2 cores) is slow; Stage-I keeps
# the synchronised statistics and the global batch's draws in the default suite.
@pytest.mark.parametrize("stage", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_stackgan_data_parallel_equals_single_device(stage):
  """Each stage on 4 devices computes what one device does: the generator's batch statistics
  synchronised, each device its slice of the global batch's noise, caption draws and
  conditioning-augmentation draws, the mismatched pairs rolled over the global batch. Stage-I: the
  whole generator iteration. Stage-II: each player's step from the same state (in a whole
  iteration, Adam's first discriminator step moves a weight by about lr * sign(gradient), which a
  gradient at rounding level flips, and the generator's gradients then follow that weight)."""
  from jaxgan.algos import stackgan as sg

  # gf 8: Stage-II's last blocks have 2 channels (at gf 4, one channel of 128 x 128 behind batch
  # norm made the gradients ill-conditioned: float32 against float64 on one device differed more
  # than 4 devices against 1)
  tiny = dict(emb_dim=8, z_dim=4, c_dim=4, gf_dim=8, df_dim=4, e_dim=4, batch_size=8,
              res_blocks=1, unconditional_head=True)
  config = sg.StackGANConfig(data_shape=(32, 32, 3), **tiny)
  state = sg.init(jax.random.key(0), config)
  if stage == 2:
    config = sg.StackGANConfig(data_shape=(128, 128, 3), stage=2, **tiny)
    state = sg.init(jax.random.key(1), config, state)
  side = config.data_shape[0]
  rng = np.random.default_rng(0)
  data = {"x": jnp.asarray(rng.integers(0, 256, (20, side, side, 3)), jnp.uint8),
          "emb": jnp.asarray(rng.normal(size=(20, 5, 8)), jnp.float32)}
  key, mesh = jax.random.key(2), parallel.make_mesh(4)
  if stage == 1:
    steps = [(sg.train_step, data, False)]
  else:
    batch = sg.draw_batch(data, jax.random.key(3), config.batch_size, config.captions_per_image)
    steps = [(sg.discriminator_step, batch, True), (sg.generator_step, batch, True)]
  for step, inputs, split in steps:
    single, m_single = jax.jit(step)(state, inputs, key)
    multi, m_multi = parallel.data_parallel(step, mesh, split_batch=split)(state, inputs, key)
    chex.assert_trees_all_close(multi, single, atol=1e-5, rtol=1e-5)
    chex.assert_trees_all_close(m_multi, m_single, atol=1e-5, rtol=1e-5)
