"""The threefry hash unrolled on CPU: the same random bits, without a loop per draw.

JAX lowers threefry2x32 (the hash behind every ``jax.random`` call with the default keys) as a
5-trip ``fori_loop`` on CPU and as straight-line code on GPU and TPU. Inside a training scan, each
draw is then an XLA:CPU while loop whose every trip pays the runtime's per-operation overhead; a
DQN iteration on CartPole makes about 30 draws (the environments' auto-reset draws a start state
every step). Straight-line code runs the same 20 rounds of the same integer arithmetic, so every
bit is unchanged. Measured on the 2-core CPU (``benchmarks/dqn_profile.py``): the acting half of a
CartPole iteration 112 -> 34 us, the whole iteration 350 -> 299 us, parameters bitwise equal.

It changes how JAX lowers a primitive for the whole process, so it is a call, not a side effect of
an import: the command line and the benchmark scripts make it; a user's own program may.

    from jaxrun import threefry
    threefry.unroll_on_cpu()      # before the programs are compiled (jitted ones already are kept)
"""

import functools


@functools.cache
def _rules():
  """(threefry primitive, unrolled rule, JAX's CPU rule, mlir), or None where JAX's internals moved."""
  try:
    from jax._src.interpreters import mlir
    from jax._src.random import threefry2x32 as t
    return t.threefry2x32_p, t._threefry2x32_lowering_rule, t._threefry2x32_cpu_lowering_rule, mlir
  except (ImportError, AttributeError):
    return None


def unroll_on_cpu(enabled: bool = True) -> bool:
  """Lowers threefry on CPU unrolled (``enabled``) or back as JAX's loop; False where this JAX has
  no such rules to swap (then nothing changes). Programs already compiled keep their lowering."""
  rules = _rules()
  if rules is None:
    return False
  primitive, unrolled, rolled, mlir = rules
  mlir.register_lowering(primitive, unrolled if enabled else rolled, platform="cpu")
  return True
