"""Devices for a run that splits its work over several: on a CPU-only machine the command line
asks JAX for that many CPU devices before JAX starts (``--devices N``).

XLA runs each CPU device's program on a thread of its own, so seeds or batch shards split over
CPU devices use every core; one device runs a vmapped program on one core (measured on 2 cores:
8 DQN CartPole seeds 40-53k steps/s on one device, 103-105k on two). On an accelerator the
devices are the chips, and this changes nothing.
"""

import os


def make_cpu_devices(n: int) -> bool:
  """Asks JAX for ``n`` CPU devices; whether it did. It does not where ``n`` <= 1, where the user's
  XLA_FLAGS sets the count, or where a backend has started already (then a run asking for more
  devices than there are fails with a message)."""
  if n <= 1 or "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
    return False
  import jax

  try:
    jax.config.update("jax_num_cpu_devices", max(n, jax.config.jax_num_cpu_devices))
  except RuntimeError:  # a backend is up: its devices are what they are
    return False
  return True
