"""Adversarial losses as pure functions of discriminator logits or critic scores.

Every loss is a scalar to *minimise*. Losses on logits use ``softplus`` so that
``log D = -softplus(-l)`` and ``log(1 - D) = -softplus(l)`` never take the log of
a rounded-off probability.
"""

import jax
import jax.numpy as jnp


def discriminator_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """-(E log D(x) + E log(1 - D(G(z)))): Goodfellow et al. 2014, Algorithm 1 (ascent, negated)."""
  return jnp.mean(jax.nn.softplus(-real_logits)) + jnp.mean(jax.nn.softplus(fake_logits))


def generator_loss_saturating(fake_logits: jax.Array) -> jax.Array:
  """E log(1 - D(G(z))): the minimax generator objective of Algorithm 1."""
  return -jnp.mean(jax.nn.softplus(fake_logits))


def generator_loss_non_saturating(fake_logits: jax.Array) -> jax.Array:
  """-E log D(G(z)): the heuristic of Section 3 that the released code trains with."""
  return jnp.mean(jax.nn.softplus(-fake_logits))


GENERATOR_LOSSES = {
    "saturating": generator_loss_saturating,
    "non_saturating": generator_loss_non_saturating,
}


def critic_loss(real_scores: jax.Array, fake_scores: jax.Array) -> jax.Array:
  """E f(G(z)) - E f(x): the critic maximises the Wasserstein estimate (Arjovsky et al. 2017)."""
  return jnp.mean(fake_scores) - jnp.mean(real_scores)


def wasserstein_generator_loss(fake_scores: jax.Array) -> jax.Array:
  """-E f(G(z))."""
  return -jnp.mean(fake_scores)


def wasserstein_estimate(real_scores: jax.Array, fake_scores: jax.Array) -> jax.Array:
  """E f(x) - E f(G(z)): the critic's estimate of W(P_r, P_g) (up to the Lipschitz constant)."""
  return jnp.mean(real_scores) - jnp.mean(fake_scores)
