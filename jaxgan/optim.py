"""Optax transforms and the optimiser presets of the papers."""

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


class ClipWeightsState(NamedTuple):
  """clip_weights keeps no state."""


def clip_weights(c: float) -> optax.GradientTransformation:
  """Keeps every parameter inside [-c, c] (the WGAN weight clipping).

  Rewrites an update ``u`` into ``clip(p + u, -c, c) - p`` so that applying it lands the
  parameters in the box. It needs ``params`` in ``update`` and must go *last* in a chain.
  Note: ``optax.clip`` clips updates, not parameters; this is not that.
  """
  if isinstance(c, (int, float)) and not c > 0:  # (an array: a sweep's per-run value, checked before)
    raise ValueError(f"clip_weights needs c > 0, got {c}; the WGAN paper uses c = 0.01.")

  def init_fn(params):
    del params
    return ClipWeightsState()

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError("clip_weights needs the current parameters: call update(updates, state, params).")
    new_updates = jax.tree.map(lambda u, p: jnp.clip(p + u, -c, c) - p, updates, params)
    return new_updates, state

  return optax.GradientTransformation(init_fn, update_fn)


def clip_by_norm_per_variable(max_norm: float) -> optax.GradientTransformation:
  """Scales each parameter's gradient (each leaf) to at most ``max_norm`` in L2 norm, on its own:
  slim's ``create_train_op(clip_gradient_norm=...)``, which calls ``tf.clip_by_norm`` per variable
  (g * max_norm / max(||g||, max_norm)). ``optax.clip_by_global_norm`` scales all leaves by one
  factor instead; this is not that."""
  if not max_norm > 0:
    raise ValueError(f"clip_by_norm_per_variable needs max_norm > 0, got {max_norm}.")

  def clip(g):
    return g * (max_norm / jnp.maximum(jnp.sqrt(jnp.sum(jnp.square(g))), max_norm))

  return optax.stateless(lambda updates, params=None: jax.tree.map(clip, updates))


def clip_params(params, c: float):
  """Clamps a parameter tree into [-c, c] (applied once to the critic's initial weights)."""
  return jax.tree.map(lambda p: jnp.clip(p, -c, c), params)


def wgan_rmsprop(learning_rate: float = 5e-5) -> optax.GradientTransformation:
  """PyTorch's RMSprop as in the official WGAN code: decay 0.99, eps 1e-8 outside the square root."""
  return optax.rmsprop(learning_rate, decay=0.99, eps=1e-8, eps_in_sqrt=False)


def wgan_critic_optimizer(learning_rate: float = 5e-5, clip: float = 0.01) -> optax.GradientTransformation:
  """RMSprop followed by weight clipping: Arjovsky et al. 2017, Algorithm 1."""
  return optax.chain(wgan_rmsprop(learning_rate), clip_weights(clip))


def goodfellow_sgd(
    learning_rate: float = 0.1,
    decay_factor: float = 1.000004,
    min_learning_rate: float = 1e-6,
    initial_momentum: float = 0.5,
    final_momentum: float = 0.7,
    momentum_saturate_steps: int = 250 * 500,
) -> optax.GradientTransformation:
  """SGD with momentum as in goodfeli/adversarial mnist.yaml.

  pylearn2's ExponentialDecay divides the learning rate by ``decay_factor`` every update
  down to ``min_learning_rate``; MomentumAdjustor raises the momentum linearly from 0.5 to
  0.7 by epoch 250 (250 epochs x 500 batches of 100 on MNIST's 50k training images).
  """
  log_decay = math.log(decay_factor)  # in double precision: 1.000004 does not survive float32

  def lr(count):
    return jnp.maximum(learning_rate * jnp.exp(-log_decay * count), min_learning_rate)

  def momentum(count):
    frac = jnp.minimum(count.astype(jnp.float32) / momentum_saturate_steps, 1.0)
    return initial_momentum + frac * (final_momentum - initial_momentum)

  return optax.inject_hyperparams(optax.sgd)(learning_rate=lr, momentum=momentum)


def dcgan_adam(learning_rate: float = 2e-4) -> optax.GradientTransformation:
  """Adam(2e-4, beta1 = 0.5): Radford et al. 2016."""
  return optax.adam(learning_rate, b1=0.5)
