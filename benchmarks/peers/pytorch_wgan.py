"""The official WGAN (martinarjovsky/WassersteinGAN) DCGAN step in PyTorch, for the throughput
comparison: DCGAN_G / DCGAN_D at 64x64x3, ngf = ndf = 64, batch 64, RMSProp 5e-5, clamp to
[-0.01, 0.01] before each critic step, n_critic critic steps (real, then fake with the generator
frozen) and one generator step. Prints one JSON line: generator iterations per second, the best
of ``repeats`` timed blocks of ``iterations`` (the statistic the jaxgan side reports).

    python pytorch_wgan.py [ITERATIONS] [REPEATS] [DEVICE]     # DEVICE: cpu (default) or cuda

On cuda the networks, the data and the noise live on the GPU, cuDNN picks its algorithms
(``cudnn.benchmark``, as the official main.py sets) and each timed block ends with a
synchronisation."""

import json
import sys
import time

import torch
from torch import nn


def dcgan_g(nz=100, ngf=64, nc=3):
  return nn.Sequential(
      nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
      nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
      nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
      nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
      nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())


def dcgan_d(ndf=64, nc=3):
  return nn.Sequential(
      nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
      nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, True),
      nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, True),
      nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, True),
      nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False))


def main(iterations=3, repeats=3, device="cpu", n_critic=5, batch=64):
  torch.manual_seed(0)
  device = torch.device(device)
  torch.backends.cudnn.benchmark = True
  g, d = dcgan_g().to(device), dcgan_d().to(device)
  opt_g = torch.optim.RMSprop(g.parameters(), lr=5e-5)
  opt_d = torch.optim.RMSprop(d.parameters(), lr=5e-5)
  real = torch.rand(512, 3, 64, 64, device=device) * 2 - 1

  def generator_iteration():
    for _ in range(n_critic):
      for p in d.parameters():
        p.data.clamp_(-0.01, 0.01)
      d.zero_grad()
      x = real[torch.randint(0, len(real), (batch,), device=device)]
      d(x).mean().backward()
      with torch.no_grad():
        fake = g(torch.randn(batch, 100, 1, 1, device=device))
      (-d(fake).mean()).backward()
      opt_d.step()
    g.zero_grad()
    d(g(torch.randn(batch, 100, 1, 1, device=device))).mean().backward()
    opt_g.step()

  sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
  for _ in range(2 if device.type == "cuda" else 1):  # warm-up (cuDNN's algorithm search on a GPU)
    generator_iteration()
  sync()
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    for _ in range(iterations):
      generator_iteration()
    sync()
    times.append(time.perf_counter() - t)
  print(json.dumps({"generator_it_per_s": iterations / min(times), "torch": torch.__version__,
                    "threads": torch.get_num_threads(),
                    "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu"}))


if __name__ == "__main__":
  main(*(int(a) if a.isdigit() else a for a in sys.argv[1:]))
