"""The unrolled CPU lowering of threefry draws the same bits as JAX's loop, and has no loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrun import threefry


def _draws(key):
  k1, k2 = jax.random.split(jax.random.fold_in(key, 7))
  return {"bits": jax.random.bits(k1, (257,), jnp.uint32), "uniform": jax.random.uniform(k2, (3, 5)),
          "normal": jax.random.normal(k1, (64,)), "randint": jax.random.randint(k2, (9,), 0, 1000),
          "split": jax.random.key_data(jax.random.split(key, 4))}


@pytest.fixture
def rolled_then_unrolled():
  yield
  threefry.unroll_on_cpu(True)  # the state the command line leaves a process in


def test_unrolled_threefry_draws_the_same_bits_without_a_loop(rolled_then_unrolled):
  keys = jax.random.split(jax.random.key(3), 5)
  assert threefry.unroll_on_cpu(False)
  rolled_text = jax.jit(_draws).lower(keys[0]).as_text()
  rolled = [jax.jit(_draws)(k) for k in keys]
  jax.clear_caches()
  assert threefry.unroll_on_cpu(True)
  unrolled_text = jax.jit(_draws).lower(keys[0]).as_text()
  unrolled = [jax.jit(_draws)(k) for k in keys]
  assert "while" in rolled_text and "while" not in unrolled_text
  for a, b in zip(rolled, unrolled):
    jax.tree.map(np.testing.assert_array_equal, a, b)
