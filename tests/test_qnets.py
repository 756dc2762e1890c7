import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import nets


def _count(params) -> int:
  return sum(x.size for x in jax.tree.leaves(params))


def test_nature_network_shapes_and_parameter_count():
  net = nets.q_network("nature", num_actions=4)
  obs = jax.ShapeDtypeStruct((2, 4, 84, 84), jnp.uint8)  # traced, not run
  params = jax.eval_shape(net.init, jax.random.key(0), obs)
  assert jax.eval_shape(net.apply, params, obs).shape == (2, 4)
  # 84 -> 20 -> 9 -> 7 spatially; conv 8x8x4x32, 4x4x32x64, 3x3x64x64, dense 7*7*64 -> 512 -> 4.
  expected = (8 * 8 * 4 * 32 + 32) + (4 * 4 * 32 * 64 + 64) + (3 * 3 * 64 * 64 + 64) \
      + (7 * 7 * 64 * 512 + 512) + (512 * 4 + 4)
  assert _count(params) == expected == 1_686_180


def test_nature_network_scales_uint8_frames():
  net = nets.q_network("nature", num_actions=3)
  obs = jnp.asarray(np.random.default_rng(0).integers(0, 256, (1, 4, 84, 84)), jnp.uint8)
  params = jax.jit(net.init)(jax.random.key(0), obs)
  apply = jax.jit(net.apply)
  np.testing.assert_allclose(apply(params, obs), apply(params, obs.astype(jnp.float32)),
                             rtol=1e-6, atol=1e-6)


def test_minatar_and_mlp_parameter_counts():
  minatar = nets.q_network("minatar", num_actions=3)
  p = jax.eval_shape(minatar.init, jax.random.key(0), jnp.zeros((1, 10, 10, 4)))
  assert _count(p) == (3 * 3 * 4 * 16 + 16) + (8 * 8 * 16 * 128 + 128) + (128 * 3 + 3)
  mlp = nets.q_network("mlp", num_actions=2, hidden=(120, 84))
  p = jax.eval_shape(mlp.init, jax.random.key(0), jnp.zeros((1, 4)))
  assert _count(p) == (4 * 120 + 120) + (120 * 84 + 84) + (84 * 2 + 2)
