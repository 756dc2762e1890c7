import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import nets


@pytest.mark.parametrize("shape", [(2, 4, 4, 3), (1, 5, 7, 2)])
def test_subpixel_conv_transpose_equals_transposed_convolution(shape):
  x = jax.random.normal(jax.random.key(0), shape)
  kernel = jax.random.normal(jax.random.key(1), (4, 4, shape[-1], 6))
  layer = nets.SubPixelConvTranspose(6)
  variables = layer.init(jax.random.key(2), x)
  assert variables["params"]["kernel"].shape == kernel.shape  # the transposed conv's parameter
  y = jax.jit(layer.apply)({"params": {"kernel": kernel}}, x)
  reference = nets.conv_transpose_reference(x, kernel)
  assert y.shape == (shape[0], 2 * shape[1], 2 * shape[2], 6)
  np.testing.assert_allclose(y, reference, atol=1e-4, rtol=1e-4)


def test_conv_transpose_reference_against_scatter_definition():
  # y[2i + a - 1, 2j + b - 1] += x[i, j] K[a, b], written out with loops.
  x = np.random.default_rng(0).normal(size=(1, 3, 2, 2))
  k = np.random.default_rng(1).normal(size=(4, 4, 2, 3))
  y = np.zeros((1, 6, 4, 3))
  for i in range(3):
    for j in range(2):
      for a in range(4):
        for b in range(4):
          r, c = 2 * i + a - 1, 2 * j + b - 1
          if 0 <= r < 6 and 0 <= c < 4:
            y[0, r, c] += x[0, i, j] @ k[a, b]
  np.testing.assert_allclose(nets.conv_transpose_reference(jnp.asarray(x, jnp.float32),
                                                           jnp.asarray(k, jnp.float32)), y, atol=1e-5)


def test_depth_to_space_layout():
  x = jnp.arange(2 * 2 * 4).reshape(1, 1, 2, 8)  # one row, two columns, (py, px, c=2)
  y = nets.depth_to_space(x)
  assert y.shape == (1, 2, 4, 2)
  np.testing.assert_array_equal(y[0, 1, 1], x[0, 0, 0, 6:8])  # phase (1, 1) of column 0


@pytest.mark.parametrize("size,channels", [(16, 1), (32, 3), (64, 3)])
def test_dcgan_shapes(size, channels):
  """(Traced, not run: shapes need no compilation.)"""
  g, critic = nets.DCGANGenerator((size, size, channels), width=8), nets.DCGANCritic(width=8)

  def shapes(z):
    images = g.apply(g.init(jax.random.key(0), z), z, train=False)
    return images, critic.apply(critic.init(jax.random.key(1), images), images, train=False)

  images, scores = jax.eval_shape(shapes, jnp.zeros((3, 100)))
  assert images.shape == (3, size, size, channels) and scores.shape == (3,)


def test_dcgan_generator_has_the_official_parameter_count():
  # models/dcgan.py, isize 64, nz 100, ngf 64, nc 3: bias-free transposed convs + batch norm.
  convs = 100 * 512 * 16 + 512 * 256 * 16 + 256 * 128 * 16 + 128 * 64 * 16 + 64 * 3 * 16
  norms = 2 * (512 + 256 + 128 + 64)
  variables = jax.eval_shape(nets.DCGANGenerator((64, 64, 3)).init, jax.random.key(0), jnp.zeros((1, 100)))
  assert sum(p.size for p in jax.tree.leaves(variables["params"])) == convs + norms


@pytest.mark.parametrize("shape", [(28, 28, 1), (8, 8, 1), (32, 16, 3), (2,)])
def test_dcgan_rejects_sizes_it_cannot_take(shape):
  with pytest.raises(ValueError, match="multiple of 16"):
    nets.check_image_shape(shape)


def test_maxout_is_max_over_pieces():
  layer = nets.Maxout(units=3, pieces=4)
  x = jax.random.normal(jax.random.key(0), (5, 7))
  variables = layer.init(jax.random.key(1), x)
  dense = variables["params"]["Dense_0"]
  pre = (x @ dense["kernel"] + dense["bias"]).reshape(5, 3, 4)
  np.testing.assert_allclose(layer.apply(variables, x), pre.max(-1), rtol=1e-6)


@pytest.mark.parametrize("num_classes", [0, 10])
def test_paper_mlps_shapes(num_classes):
  y = jnp.arange(4) % 10 if num_classes else None
  g, d = nets.GoodfellowGenerator((28, 28, 1), num_classes), nets.MaxoutDiscriminator(num_classes)

  @jax.jit  # one program, not an eager run of every operation
  def run(z):
    images = g.apply(g.init(jax.random.key(0), z, y), z, y, train=False)
    return images, d.apply(d.init(jax.random.key(1), images, y), images, y, train=False)

  images, logits = run(jax.random.normal(jax.random.key(2), (4, 100)))
  assert images.shape == (4, 28, 28, 1) and float(jnp.abs(images).max()) <= 1.0
  assert logits.shape == (4,)


@pytest.mark.parametrize("k,stride,padding,size", [(3, 1, 1, 7), (4, 2, 1, 8), (4, 2, 1, 9), (8, 4, 0, 21),
                                                   (3, 2, 0, 9), (4, 1, 0, 6), (5, 3, 2, 10)])
def test_conv2d_equals_lax_conv_values_and_gradients(k, stride, padding, size):
  x = jax.random.normal(jax.random.key(0), (2, size, size, 3))
  w = jax.random.normal(jax.random.key(1), (k, k, 3, 5))
  pad = ((padding, padding), (padding, padding))
  ref = lambda x, w: jax.lax.conv_general_dilated(x, w, (stride, stride), pad,
                                                  dimension_numbers=("NHWC", "HWIO", "NHWC"))
  mine = lambda x, w: nets.conv2d(x, w, stride, padding)
  y = jax.jit(mine)(x, w)
  np.testing.assert_allclose(y, ref(x, w), atol=1e-4, rtol=1e-4)
  dy = jax.random.normal(jax.random.key(2), y.shape)
  for got, want in zip(jax.vjp(mine, x, w)[1](dy), jax.vjp(ref, x, w)[1](dy)):
    np.testing.assert_allclose(got, want, atol=1e-3, rtol=1e-4)


def test_space_to_depth_inverts_depth_to_space():
  x = jnp.arange(2 * 4 * 6 * 3).reshape(2, 4, 6, 3)
  np.testing.assert_array_equal(nets.depth_to_space(nets.space_to_depth(x, 2), 2), x)
  assert nets.space_to_depth(x, 2)[0, 0, 0].tolist() == [0, 1, 2, 3, 4, 5, 18, 19, 20, 21, 22, 23]
