"""The Nature DQN learner step in PyTorch (as CleanRL's dqn_atari.py writes it, with Mnih et al.
2015's loss and optimiser), for the Atari learner comparison: the Nature CNN on [32, 4, 84, 84]
uint8 frames scaled by 1/255, Q(s, a) against r + 0.99 (1 - done) max_a' Q_target(s', a') under
no_grad, the Huber loss (smooth L1, delta 1), centred RMSProp (lr 2.5e-4, alpha 0.95, eps 0.01:
PyTorch adds eps outside the square root, jaxrl's preset inside, the same cost). The batch is
already in memory on both sides (replay sampling is not timed). Prints one JSON line: updates
per second, the best of ``repeats`` timed blocks of ``updates``; with LAYERS=1 also each layer's
forward pass (milliseconds, batch 32, no gradient), for atari_learner.py --profile.

    python pytorch_dqn.py [UPDATES] [REPEATS] [THREADS] [LAYERS]
"""

import json
import sys
import time

import torch
from torch import nn
from torch.nn import functional as F


def nature_cnn(num_actions: int) -> nn.Module:
  return nn.Sequential(
      nn.Conv2d(4, 32, 8, stride=4), nn.ReLU(), nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
      nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(), nn.Flatten(), nn.Linear(3136, 512), nn.ReLU(),
      nn.Linear(512, num_actions))


def main(updates: int = 50, repeats: int = 3, threads: int = 0, layers: int = 0,
         num_actions: int = 4, batch: int = 32):
  if threads:
    torch.set_num_threads(threads)
  torch.manual_seed(0)
  q, target = nature_cnn(num_actions), nature_cnn(num_actions)
  target.load_state_dict(q.state_dict())
  opt = torch.optim.RMSprop(q.parameters(), lr=2.5e-4, alpha=0.95, eps=0.01, centered=True)
  g = torch.Generator().manual_seed(1)

  def minibatch():
    frames = lambda: torch.randint(0, 256, (batch, 4, 84, 84), dtype=torch.uint8, generator=g)
    return (frames(), frames(), torch.randint(0, num_actions, (batch,), generator=g),
            torch.rand(batch, generator=g), (torch.rand(batch, generator=g) < 0.1).float())

  pool = [minibatch() for _ in range(4)]  # cycled through, as the jaxrl side does

  def update(i):
    obs, next_obs, action, reward, done = pool[i % len(pool)]
    with torch.no_grad():
      target_max = target(next_obs.float() / 255.0).max(1).values
      td_target = reward + 0.99 * target_max * (1 - done)
    old_val = q(obs.float() / 255.0).gather(1, action[:, None]).squeeze(1)
    loss = F.smooth_l1_loss(old_val, td_target)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss

  for i in range(3):  # warm-up
    update(i)
  best = float("inf")
  for _ in range(repeats):
    t = time.perf_counter()
    for i in range(updates):
      loss = update(i)
    loss.item()
    best = min(best, time.perf_counter() - t)
  out = {"updates_per_s": updates / best, "torch": torch.__version__,
         "threads": torch.get_num_threads()}
  if layers:
    out["layer_ms"] = layer_times(q, pool[0][0].float() / 255.0, repeats)
  print(json.dumps(out))


def layer_times(q: nn.Sequential, x: torch.Tensor, repeats: int, calls: int = 20) -> dict:
  """Each layer's forward pass on its real input (milliseconds, best of ``repeats``)."""
  names = {0: "conv1", 2: "conv2", 4: "conv3", 7: "dense"}
  times = {}
  with torch.no_grad():
    for i, layer in enumerate(q):
      if i in names:
        best = float("inf")
        for _ in range(repeats + 1):  # the first round warms up
          t = time.perf_counter()
          for _ in range(calls):
            layer(x).sum().item()
          best = min(best, time.perf_counter() - t)
        times[names[i]] = 1000 * best / calls
      x = layer(x)
  return times


if __name__ == "__main__":
  main(*(int(a) for a in sys.argv[1:]))
