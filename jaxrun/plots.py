"""Sample grids, scatter plots and learning curves (Pillow and matplotlib, no display needed).
Every function writes one PNG at ``path``; the loop hands it a temporary path and renames it."""

import math

import numpy as np


def image_grid(images: np.ndarray, path: str, ncols: int = 8, pad: int = 1) -> None:
  """Tiles images in [-1, 1] ([N, H, W, C]) into one PNG, row by row."""
  images = np.clip((np.asarray(images) + 1.0) * 127.5, 0, 255).astype(np.uint8)
  n, h, w, c = images.shape
  nrows = math.ceil(n / ncols)
  grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), 255, np.uint8)
  for i, im in enumerate(images):
    r, col = divmod(i, ncols)
    grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = im
  scale = max(1, 256 // (nrows * (h + pad)))  # small images: enlarge, nearest neighbour
  from PIL import Image  # (here: a run that writes no grid does not load Pillow)

  img = Image.fromarray(grid[..., 0] if c == 1 else grid)
  if scale > 1:
    img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
  img.save(path)


def pyplot():
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  return plt


def scatter(samples, real: np.ndarray, path: str, titles: list[str] | None = None) -> None:
  """Generated 2-D points over the data's; ``samples`` a list of arrays and ``titles`` theirs: one
  panel each (a sweep's configurations)."""
  samples = [samples] if titles is None else samples
  plt = pyplot()
  fig, axes = plt.subplots(1, len(samples), figsize=(4 * len(samples), 4), squeeze=False)
  for ax, points, title in zip(axes[0], samples, titles or [""]):
    ax.scatter(real[:, 0], real[:, 1], s=2, c="0.7", label="data")
    ax.scatter(points[:, 0], points[:, 1], s=2, c="tab:blue", alpha=0.6, label="generator")
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=8)
  axes[0][0].legend(loc="upper right", fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def learning_curves(rows: list[dict], path: str, skip=("step", "seconds", "n_critic"),
                    xlabel: str = "generator iteration") -> None:
  """One panel per logged number against the step (WGAN: the Wasserstein estimate, the paper's
  training curve); rows without a value are left out of its panel."""
  if not rows:
    return
  keys = [k for k in dict.fromkeys(k for r in rows for k in r)
          if k not in skip and all(isinstance(r.get(k, 0.0), (int, float)) for r in rows)]
  plt = pyplot()
  fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3), squeeze=False)
  for ax, k in zip(axes[0], keys):
    steps = np.array([r["step"] for r in rows if k in r])
    v = np.array([r[k] for r in rows if k in r], float)
    ax.plot(steps, v, lw=0.5, alpha=0.4, marker="o" if len(v) < 20 else None, ms=3)
    if len(v) >= 20:  # moving average
      w = max(len(v) // 50, 5)
      ax.plot(steps[w - 1:], np.convolve(v, np.ones(w) / w, mode="valid"), lw=1.5)
    ax.set_title(k)
    ax.set_xlabel(xlabel)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def banded_curves(panels: list, path: str, title: str = "") -> None:
  """Curves over several runs: ``panels`` [(title, xlabel, ylabel, series)], each series
  (labels, x [points], values [points, runs]) with the runs in ``len(labels)`` consecutive groups
  (a sweep's configurations), drawn per group as the interquartile mean over its runs with its
  95% stratified bootstrap band (``jaxrun.aggregate.curve_band``; no band for one run)."""
  from jaxrun import aggregate

  plt = pyplot()
  cols = min(3, len(panels))
  rows = math.ceil(len(panels) / cols)
  fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.8 * rows), squeeze=False)
  for ax in axes.flat[len(panels):]:
    ax.axis("off")
  for ax, (name, xlabel, ylabel, series) in zip(axes.flat, panels):
    for labels, x, values in series:
      for text, centre, low, high in zip(labels, *aggregate.curve_band(values, len(labels))):
        line, = ax.plot(x, centre, label=text, marker="o" if len(x) < 30 else None, ms=3)
        ax.fill_between(x, low, high, alpha=0.2, color=line.get_color())
    ax.set_title(name, fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ax.get_legend_handles_labels()[0]:
      ax.legend(fontsize=7)
  fig.suptitle(title)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def captioned_rows(rows: list, captions: list[str], path: str, frames: list | None = None) -> None:
  """One row of images (uint8 [K, H, W, C] or floats in [-1, 1]) per caption, the caption above
  it; ``frames``: per row, per image, a colour for its frame (None: no frame)."""
  plt = pyplot()
  cols = max(len(r) for r in rows)
  fig, axes = plt.subplots(len(rows), cols, figsize=(1.3 * cols, 1.55 * len(rows)), squeeze=False)
  for i, (images, text) in enumerate(zip(rows, captions)):
    for j in range(cols):
      ax = axes[i][j]
      ax.set_xticks([])
      ax.set_yticks([])
      if j >= len(images):
        ax.axis("off")
        continue
      im = np.asarray(images[j])
      if im.dtype != np.uint8:
        im = np.clip((im + 1.0) * 127.5, 0, 255).astype(np.uint8)
      ax.imshow(im[..., 0] if im.shape[-1] == 1 else im, cmap="gray" if im.shape[-1] == 1 else None)
      if frames is not None and frames[i][j] is not None:
        for spine in ax.spines.values():
          spine.set_color(frames[i][j])
          spine.set_linewidth(2)
    axes[i][0].set_title(text, loc="left", fontsize=7)
  # Not tight_layout: it shrinks every image to fit the long first-column titles.
  fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.95, wspace=0.05, hspace=0.35)
  fig.savefig(path, dpi=100)
  plt.close(fig)
