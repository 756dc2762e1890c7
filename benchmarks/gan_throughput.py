"""WGAN throughput: DCGAN 64x64x3, batch 64, n_critic 5 (steady state: no 100-iteration warm-up
phases), run as the training loop runs it (jitted lax.scan chunks of train_step, batches drawn on
the device). Reports generator iterations/s and critic images/s (real images through critic steps)
on the available devices, and the official PyTorch code on the same machine and the same kind of
device (CPU, or the GPU through CUDA) when a Python with PyTorch is given (--peer-python, or this
one if it has torch). Both sides report the best of --repeats timed blocks, and the two alternate
--rounds times (the best of all rounds is kept), so that a noisy shared machine slows both alike.
The arithmetic rate is XLA's count of one generator iteration's floating-point operations (n_critic
critic steps and a generator step) over its time; on a GPU whose datasheet peaks are known it is
also given as a share of the dense bf16 and plain fp32 peaks.

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
from jaxgan import WGANConfig, program, wgan  # noqa: E402


class Measure:
  """The training loop's jitted chunk of ``iterations`` generator iterations, compiled once."""

  def __init__(self, devices: int, iterations: int, batch_size: int, n_critic: int):
    config = WGANConfig((64, 64, 3), batch_size=batch_size, n_critic=n_critic, warmup_iterations=0,
                        warmup_every=0)
    self.state = wgan.init(jax.random.key(0), config)
    self.data = jax.device_put(
        {"x": np.random.default_rng(0).integers(0, 256, (512, 64, 64, 3), np.uint8)})
    self.chunk = program.make_chunk(wgan.train_step, iterations, devices)
    self.devices, self.iterations, self.images = devices, iterations, iterations * n_critic * batch_size
    self.calls = 0
    self.compile_s = self._run()
    self.best = float("inf")
    self.flops = flops_per_iteration(self.state, self.data, batch_size, n_critic)

  def _run(self) -> float:
    t = time.perf_counter()
    self.state, _ = jax.block_until_ready(
        self.chunk(self.state, self.data, jax.random.key(self.calls)))
    self.calls += 1
    return time.perf_counter() - t

  def __call__(self, repeats: int) -> dict:
    self.best = min([self.best] + [self._run() for _ in range(repeats)])
    return {"implementation": f"jaxgan ({self.devices} device{'s' if self.devices > 1 else ''})",
            "generator_it_per_s": self.iterations / self.best,
            "critic_images_per_s": self.images / self.best,
            "first_chunk_s_incl_compile": self.compile_s}


def flops_per_iteration(state, data, batch_size: int, n_critic: int) -> float:
  """XLA's operation count of one generator iteration: ``n_critic`` critic steps and a generator
  step, each compiled alone (a loop's body would be counted once, whatever its trip count). The
  count is the CPU's compilation of the same function: a GPU's compiled program calls cuDNN for
  its convolutions, which its cost analysis does not count."""
  cpu = jax.devices("cpu")[0]
  state, batch = jax.device_put((state, {"x": data["x"][:batch_size].astype(np.float32)}), cpu)
  def count(step):
    key = jax.device_put(jax.random.key(0), cpu)
    cost = jax.jit(step).lower(state, batch, key).compile().cost_analysis()
    return float((cost[0] if isinstance(cost, list) else cost)["flops"])
  return n_critic * count(wgan.critic_step) + count(wgan.generator_step)


# Datasheet dense peaks (FLOP/s): bf16 on the tensor cores, plain fp32 (no tensor cores).
PEAKS = {"H100": (989e12, 67e12), "H200": (989e12, 67e12), "A100": (312e12, 19.5e12)}


def arithmetic(row: dict, flops: float, device_kind: str) -> dict:
  """``row`` with its TFLOP/s and, for a known GPU, its shares of the bf16 and fp32 peaks."""
  rate = row["generator_it_per_s"] * flops
  row["tflop_per_s"] = rate / 1e12
  peak = next((v for k, v in PEAKS.items() if k in device_kind), None)
  if peak:
    row["share_of_bf16_peak"], row["share_of_fp32_peak"] = rate / peak[0], rate / peak[1]
  return row


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--devices", type=int, default=jax.device_count())
  p.add_argument("--iterations", type=int, default=None,
                 help="generator iterations per timed chunk (default: 3 on CPU, 50 otherwise)")
  p.add_argument("--repeats", type=int, default=3, help="timed blocks per round (best kept)")
  p.add_argument("--rounds", type=int, default=2, help="jaxgan / PyTorch alternations on CPU")
  p.add_argument("--peer-python", default=None, help="a Python with torch for the official-code peer")
  p.add_argument("--name", default=None, help="result file name (default gan_throughput_PLATFORM)")
  args = p.parse_args()
  cpu = jax.devices()[0].platform == "cpu"
  iterations = args.iterations or (3 if cpu else 50)
  measure = Measure(args.devices, iterations, 64, 5)
  peer_python = args.peer_python or (sys.executable if importlib.util.find_spec("torch") else None)
  peer_device = "cpu" if cpu else "cuda"  # the peer on the same kind of device
  peer_best, peer = 0.0, None
  for _ in range(args.rounds if peer_python else 1):
    row = measure(args.repeats)
    print(row, flush=True)
    if peer_python:
      peer = common.run_peer(peer_python, "pytorch_wgan.py", str(iterations), str(args.repeats),
                             peer_device) or peer
      peer_best = max(peer_best, peer["generator_it_per_s"] if peer else 0.0)
      print(peer, flush=True)
  kind = jax.devices()[0].device_kind
  rows = [arithmetic(row, measure.flops, kind)]
  if peer:
    where = f"{peer['threads']} threads" if cpu else peer["device"]
    rows.append(arithmetic({"implementation": f"official PyTorch (torch {peer['torch']}, {where})",
                            "generator_it_per_s": peer_best, "critic_images_per_s": peer_best * 5 * 64},
                           measure.flops, kind))
    rows[0]["speedup_vs_pytorch"] = rows[0]["generator_it_per_s"] / peer_best
  md = common.write(args.name or f"gan_throughput_{jax.devices()[0].platform}",
                    {"config": "WGAN DCGAN 64x64x3, ngf=ndf=64, batch 64, n_critic 5, steady state",
                     "iterations_per_chunk": iterations, "repeats": args.repeats,
                     "rounds": args.rounds if peer else 1,
                     "flops_per_generator_iteration": measure.flops}, rows,
                    "Best of all timed blocks on each side; compile time excluded (reported "
                    f"separately). tflop_per_s: XLA's count for one generator iteration of jaxgan's "
                    f"program ({measure.flops / 1e9:.0f} GFLOP: 5 critic steps and a generator step; "
                    "the sub-pixel up-sampling included) times the iterations per second, on both "
                    "rows; shares against the datasheet's dense bf16 and fp32 peaks (the step runs "
                    "in float32, which XLA and cuDNN may compute in TF32 on the tensor cores).")
  print(md)


if __name__ == "__main__":
  main()
