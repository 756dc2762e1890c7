"""WGAN throughput: DCGAN 64x64x3, batch 64, n_critic 5 (steady state: no 100-iteration warm-up
phases), run as the training loop runs it (jitted lax.scan chunks of train_step, batches drawn on
the device). Reports generator iterations/s and critic images/s (real images through critic steps)
on the available devices, and the official PyTorch code on the same machine when a Python with
PyTorch is given (--peer-python, or this one if it has torch).

  python benchmarks/gan_throughput.py                      # all devices, data-parallel when > 1
  python benchmarks/gan_throughput.py --peer-python /path/to/venv-with-torch/bin/python
"""

import argparse
import importlib.util
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402
import numpy as np  # noqa: E402

import common  # noqa: E402
from jaxgan import WGANConfig, wgan  # noqa: E402
from jaxgan import train as train_lib  # noqa: E402


def measure(devices: int, iterations: int, repeats: int, batch_size: int, n_critic: int) -> dict:
  config = WGANConfig((64, 64, 3), batch_size=batch_size, n_critic=n_critic, warmup_iterations=0,
                      warmup_every=0)
  state = wgan.init(jax.random.key(0), config)
  data = jax.device_put({"x": np.random.default_rng(0).integers(0, 256, (512, 64, 64, 3), np.uint8)})
  chunk = train_lib.make_chunk("wgan", iterations, devices)
  t = time.perf_counter()
  state, _ = jax.block_until_ready(chunk(state, data, jax.random.key(1)))
  compile_s = time.perf_counter() - t
  times = []
  for r in range(repeats):
    t = time.perf_counter()
    state, _ = jax.block_until_ready(chunk(state, data, jax.random.key(2 + r)))
    times.append(time.perf_counter() - t)
  best = min(times)
  return {"implementation": f"jaxgan ({devices} device{'s' if devices > 1 else ''})",
          "generator_it_per_s": iterations / best,
          "critic_images_per_s": iterations * n_critic * batch_size / best,
          "first_chunk_s_incl_compile": compile_s}


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--devices", type=int, default=jax.device_count())
  p.add_argument("--iterations", type=int, default=None,
                 help="generator iterations per timed chunk (default: 3 on CPU, 50 otherwise)")
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--peer-python", default=None, help="a Python with torch for the official-code peer")
  p.add_argument("--name", default=None, help="result file name (default gan_throughput_PLATFORM)")
  args = p.parse_args()
  cpu = jax.devices()[0].platform == "cpu"
  iterations = args.iterations or (3 if cpu else 50)
  rows = [measure(args.devices, iterations, args.repeats, 64, 5)]
  print(rows[-1], flush=True)
  peer_python = args.peer_python or (sys.executable if importlib.util.find_spec("torch") else None)
  if peer_python and cpu:
    peer = common.run_peer(peer_python, "pytorch_wgan.py", str(iterations))
    if peer:
      rows.append({"implementation": f"official PyTorch (torch {peer['torch']}, {peer['threads']} threads)",
                   "generator_it_per_s": peer["generator_it_per_s"],
                   "critic_images_per_s": peer["generator_it_per_s"] * 5 * 64})
      rows[0]["speedup_vs_pytorch"] = rows[0]["generator_it_per_s"] / peer["generator_it_per_s"]
  md = common.write(args.name or f"gan_throughput_{jax.devices()[0].platform}",
                    {"config": "WGAN DCGAN 64x64x3, ngf=ndf=64, batch 64, n_critic 5, steady state",
                     "iterations_per_chunk": iterations}, rows,
                    "Best of the timed chunks; compile time excluded (reported separately).")
  print(md)


if __name__ == "__main__":
  main()
