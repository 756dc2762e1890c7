"""Key derivation: the independent random streams of a run, all from its one seed.

A run never reuses a key: each purpose gets its own stream ``fold_in(key(seed), i)``, and within a
stream each step, seed or device folds in its index, so a chunked or resumed run draws exactly what
one uninterrupted scan draws."""

import jax
import jax.numpy as jnp


def streams(seed: int, n: int) -> tuple[jax.Array, ...]:
  """``n`` independent keys of ``seed``: ``fold_in(key(seed), i)`` for i < n."""
  root = jax.random.key(seed)
  return tuple(jax.random.fold_in(root, i) for i in range(n))


def per_index(key: jax.Array, n: int) -> jax.Array:
  """Keys [n]: ``fold_in(key, i)`` for i < n (one per seed of a vmapped run)."""
  return jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n))
