import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgan import clip_weights, optim


def _params():
  return {"w": jnp.array([0.009, -0.004, 0.0, 0.0099]), "b": jnp.array([[0.005, -0.0099]])}


def test_clip_weights_keeps_every_parameter_in_the_box_under_jit():
  c = 0.01
  tx = optim.wgan_critic_optimizer(5e-3, c)  # large lr so that clipping binds
  params = _params()
  state = tx.init(params)

  @jax.jit
  def step(params, state, key):
    grads = jax.tree.map(lambda p: jax.random.normal(key, p.shape), params)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  bound = False
  for i in range(30):
    params, state = step(params, state, jax.random.key(i))
    for p in jax.tree.leaves(params):
      assert float(jnp.max(jnp.abs(p))) <= c
      bound |= bool(jnp.any(jnp.abs(p) == c))
  assert bound, "the test never made clipping bind"


def test_clip_weights_is_plain_rmsprop_where_it_does_not_bind():
  params = {"w": jnp.array([0.001, -0.002, 0.0])}
  grads = {"w": jnp.array([0.3, -0.1, 0.05])}
  clipped, plain = optim.wgan_critic_optimizer(5e-5, 0.01), optim.wgan_rmsprop(5e-5)
  u_clipped, _ = clipped.update(grads, clipped.init(params), params)
  u_plain, _ = plain.update(grads, plain.init(params), params)
  chex.assert_trees_all_close(u_clipped, u_plain, atol=1e-12)


def test_wgan_rmsprop_matches_pytorch_rmsprop_definition():
  # torch.optim.RMSprop(alpha=0.99, eps=1e-8): v = a v + (1 - a) g^2; p -= lr g / (sqrt(v) + eps)
  lr, a, eps = 5e-5, 0.99, 1e-8
  tx = optim.wgan_rmsprop(lr)
  p = jnp.array([0.5, -1.0, 2.0])
  state = tx.init(p)
  p_ref, v = np.array(p, np.float64), np.zeros(3)
  for g in ([1.0, -2.0, 1e-9], [0.5, 0.1, -3.0], [2.0, 2.0, 2.0]):
    g = np.array(g)
    updates, state = tx.update(jnp.asarray(g, jnp.float32), state, p)
    p = optax.apply_updates(p, updates)
    v = a * v + (1 - a) * g**2
    p_ref = p_ref - lr * g / (np.sqrt(v) + eps)
  np.testing.assert_allclose(p, p_ref, rtol=1e-6)


def test_clip_weights_errors():
  with pytest.raises(ValueError, match="c > 0"):
    clip_weights(0.0)
  with pytest.raises(ValueError, match="c > 0"):
    clip_weights(-0.01)
  tx = clip_weights(0.01)
  with pytest.raises(ValueError, match="parameters"):
    tx.update({"w": jnp.ones(2)}, tx.init(None))


def test_goodfellow_sgd_schedules():
  tx = optim.goodfellow_sgd(0.1, decay_factor=1.000004, initial_momentum=0.5, final_momentum=0.7,
                            momentum_saturate_steps=10)
  p = jnp.zeros(1)
  state = tx.init(p)
  for _ in range(20):
    _, state = tx.update(jnp.ones(1), state, p)
  # inject_hyperparams holds the values the 20th update used (count 19).
  np.testing.assert_allclose(state.hyperparams["learning_rate"], 0.1 / 1.000004**19, rtol=1e-7)
  late = tx.init(p)
  late = late._replace(hyperparams_states=jax.tree.map(
      lambda c: jnp.asarray(10**6, jnp.int32), late.hyperparams_states))
  _, late = tx.update(jnp.ones(1), late, p)
  np.testing.assert_allclose(late.hyperparams["learning_rate"], 0.1 / 1.000004**1e6, rtol=1e-5)
  np.testing.assert_allclose(state.hyperparams["momentum"], 0.7, rtol=1e-6)
