import math

import jax.numpy as jnp
import numpy as np

from jaxgan import losses

LN3 = math.log(3.0)
REAL = jnp.array([0.0, LN3])    # D(x) = 0.5, 0.75
FAKE = jnp.array([0.0, -LN3])   # D(G(z)) = 0.5, 0.25


def test_discriminator_loss_hand_computed():
  expected = -(0.5 * (math.log(0.5) + math.log(0.75)) + 0.5 * (math.log(0.5) + math.log(0.75)))
  np.testing.assert_allclose(losses.discriminator_loss(REAL, FAKE), expected, rtol=1e-6)


def test_generator_losses_hand_computed():
  np.testing.assert_allclose(losses.generator_loss_saturating(FAKE),
                             0.5 * (math.log(0.5) + math.log(0.75)), rtol=1e-6)
  np.testing.assert_allclose(losses.generator_loss_non_saturating(FAKE),
                             -0.5 * (math.log(0.5) + math.log(0.25)), rtol=1e-6)


def test_logit_losses_are_finite_for_confident_discriminators():
  big = jnp.array([100.0, -100.0])
  for value in (losses.discriminator_loss(big, -big), losses.generator_loss_saturating(big),
                losses.generator_loss_non_saturating(-big)):
    assert jnp.isfinite(value)
  np.testing.assert_allclose(losses.generator_loss_non_saturating(jnp.array([-100.0])), 100.0)


def test_wasserstein_losses_hand_computed():
  real, fake = jnp.array([1.0, 3.0]), jnp.array([0.5, -0.5])
  np.testing.assert_allclose(losses.critic_loss(real, fake), -2.0)
  np.testing.assert_allclose(losses.wasserstein_estimate(real, fake), 2.0)
  np.testing.assert_allclose(losses.wasserstein_generator_loss(fake), 0.0)


def test_sje_loss_hand_computed():
  """Two classes. Scores F(v_i, t_j) = [[1, 0.5], [0, 0.5]]: image -> text hinges 0.5 and 0.5,
  text -> image hinges 0 and 1, each direction divided by B * B = 4."""
  v = jnp.array([[1.0, 0.0], [0.0, 1.0]])
  t = jnp.array([[1.0, 0.0], [0.5, 0.5]])
  np.testing.assert_allclose(losses.sje_hinge(v @ t.T), 0.25)
  np.testing.assert_allclose(losses.sje_hinge((v @ t.T).T), 0.25)
  np.testing.assert_allclose(losses.sje_loss(v, t), 0.5)
  # Well separated embeddings (every margin met) cost nothing.
  np.testing.assert_allclose(losses.sje_loss(3 * jnp.eye(3), jnp.eye(3)), 0.0)
