"""Next-frame prediction on the run layer: the sequences as settings, the evaluation of the paper's
Table 2 (PSNR, SSIM and sharpness of the first and second predicted frames, on moving areas and
whole frames, beside the copy-the-last-frame baseline, and the official script's variant), the
figure of predictions, and ``METHOD``.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import program
from jaxgan.data.base import floats
from jaxgan.algos.frames import ROWS, FramesConfig, init, predict, train_step
from jaxrun import Method

DATASETS = ("moving-digits", "tfds:moving_mnist", "tfds:ucf101")
UCF101_CONFIGS = ("ucf101_1", "ucf101_1_256", "ucf101_2", "ucf101_3")  # tensorflow-datasets' configs
# Mathieu et al. 2016, Table 2 (UCF101, every 10th test video, moving areas): (PSNR, SSIM,
# sharpness) of the first and second predicted frames. Not the same data as moving-digits.
PAPER_TABLE_2 = {
    "single-scale-l2": [[26.5, 0.84, 24.7], [22.4, 0.82, 24.2]],
    "l2": [[27.6, 0.86, 24.7], [22.5, 0.81, 24.2]],
    "l1": [[28.7, 0.88, 24.8], [23.8, 0.83, 24.3]],
    "gdl-l1": [[29.4, 0.90, 25.0], [24.9, 0.84, 24.4]],
    "adv": [[30.6, 0.89, 25.2], [26.1, 0.85, 24.2]],
    "adv-gdl": [[31.5, 0.91, 25.4], [28.0, 0.87, 25.1]],
    "copy_last_frame": [[28.6, 0.89, 24.6], [26.3, 0.87, 24.2]],
}
DATA_NOTES = {
    "moving-digits": "moving-digits is scikit-learn's digits moving on a 32 x 32 (or 64 x 64) "
                     "canvas (on procedural colour backgrounds, or grey on black), not UCF101: "
                     "its figures are not the paper's and are not comparable to them. The "
                     "paper's Adv and Adv+GDL rows were fine-tuned on 64 x 64 patches.",
    "tfds:moving_mnist": "Moving MNIST's test sequences (their first 6 frames), not UCF101: not "
                         "comparable to the paper's figures.",
    "tfds:ucf101": "UCF101 as the paper, but its moving areas come from optical flow; here from "
                   "a frame difference of more than 10 grey levels, so the moving-area figures "
                   "are close to, not the same as, the paper's protocol.",
}
TARGETS = 2  # predicted frames evaluated (the second from the first fed back)


@dataclasses.dataclass(frozen=True)
class FramesSettings:
  dataset: str = "moving-digits"     # moving-digits (generated, offline), tfds:moving_mnist, tfds:ucf101[/CONFIG]
  image_size: int | None = None      # moving-digits: canvas 32 (default) or 64; tfds:ucf101: training patch (32)
  # Colour is the default: on black, L1's per-pixel optimum is -1, tanh's asymptote, and the L1
  # rows (l1, gdl-l1, adv-gdl) saturate there and stop learning (benchmarks/results/frames-grey.md).
  background: str = "colour"         # moving-digits: colour (|background - digit| on procedural images) or grey (on black)
  data_dir: str | None = None        # tensorflow-datasets data directory
  max_examples: int | None = None    # tfds data: at most this many videos per split
  devices: int = 1                   # data-parallel over this many devices

  def __post_init__(self):
    if self.devices < 1:
      raise ValueError(f"devices must be >= 1, got {self.devices}.")
    if self.max_examples is not None and self.max_examples < 1:
      raise ValueError(f"max_examples must be >= 1, got {self.max_examples}.")


def load(settings: FramesSettings):
  from jaxgan.data import moving, videos

  name = settings.dataset
  if name == "moving-digits":
    return moving.load_moving_digits(32 if settings.image_size is None else settings.image_size,
                                     settings.background)
  if name == "tfds:moving_mnist":
    if settings.image_size not in (None, 64):
      raise ValueError(f"Moving MNIST is 64 x 64; drop --image-size {settings.image_size}.")
    return videos.load_moving_mnist(settings.data_dir, settings.max_examples)
  if name == "tfds:ucf101" or name.startswith("tfds:ucf101/"):
    config = name.partition("/")[2] or UCF101_CONFIGS[0]
    if config not in UCF101_CONFIGS:
      raise ValueError(f"tfds:ucf101 has the configs {', '.join(UCF101_CONFIGS)}, not {config!r}.")
    return videos.load_ucf101(32 if settings.image_size is None else settings.image_size,
                              settings.data_dir, settings.max_examples, config)
  raise ValueError(f"unknown dataset {name!r} for frames; use one of {', '.join(DATASETS)} "
                   "(tfds:ucf101/CONFIG for another split).")


def data_note(name: str) -> str:
  return next((note for prefix, note in DATA_NOTES.items() if name.startswith(prefix)), "")


def frame_shape(dataset) -> tuple[int, int, int]:
  return tuple(dataset.train.x.shape[2:])


def check(config: FramesConfig, dataset, settings=None) -> None:
  """The sequences are long enough, the batch fits them, the frames fit the config."""
  length = dataset.train.x.shape[1]
  if length < config.input_frames + TARGETS:
    raise ValueError(f"{dataset.name}'s sequences have {length} frames, fewer than the "
                     f"{config.input_frames} inputs + {TARGETS} targets; pass --input-frames "
                     f"{length - TARGETS} or less.")
  if config.batch_size > len(dataset.train):
    raise ValueError(f"batch size {config.batch_size} is larger than the {len(dataset.train)} "
                     f"training sequences; pass --batch-size {len(dataset.train)} or less.")
  if tuple(config.frame_shape) != frame_shape(dataset):
    raise ValueError(f"the config expects {config.frame_shape} frames; {dataset.name} has "
                     f"{frame_shape(dataset)}.")
  h, w = dataset.test.x.shape[2:4]
  if h % max(config.scales) or w % max(config.scales):
    raise ValueError(f"{dataset.name}'s {h} x {w} test frames cannot be down-sampled by the "
                     f"coarsest scale's factor {max(config.scales)}; pass --scales with smaller "
                     "factors.")
  program.check_devices(config, settings)


# ---- evaluation -----------------------------------------------------------------------------------

_predict = jax.jit(predict, static_argnums=2)


def inputs_of(split, input_frames: int) -> np.ndarray:
  """The ``input_frames`` frames before each sequence's last ``TARGETS`` (those the masks are of)."""
  t = split.x.shape[1]
  return split.x[:, t - TARGETS - input_frames:t - TARGETS]


def predictions(state, split, pixels: int = 100 * 32 * 32) -> np.ndarray:
  """The 2 frames [N, 2, H, W, C] in [-1, 1] predicted after each sequence's inputs (the last
  two frames of every sequence are the targets), in batches of about ``pixels`` pixels a frame.
  Every batch has that one shape (a short one is padded with its last sequence), so a frame size
  compiles one program for the evaluation, the figure and ``sample`` (8 s each on 2 cores)."""
  inputs = inputs_of(split, state.config.input_frames)
  batch = max(1, pixels // (inputs.shape[2] * inputs.shape[3]))
  out = []
  for i in range(0, len(inputs), batch):
    x = inputs[i:i + batch]
    padded = np.concatenate([x, np.repeat(x[-1:], batch - len(x), 0)])
    out.append(np.asarray(_predict(state, jnp.asarray(floats(padded)), TARGETS))[:len(x)])
  return np.concatenate(out)


def copy_last_frame(split, input_frames: int) -> np.ndarray:
  """The baseline: the last input frame, repeated as both predictions."""
  last = floats(inputs_of(split, input_frames)[:, -1:])
  return np.repeat(last, TARGETS, axis=1)


def per_sequence(predicted: np.ndarray, split) -> dict:
  """{'frame_1': {metric: {'moving': [N], 'whole': [N]}}, ..., 'official': {'frame_1': {metric:
  [N]}}} for [N, 2, H, W, C] predictions in [-1, 1] (clipped to it)."""
  from jaxgan.metrics import frames as m

  predicted = np.clip(predicted, -1.0, 1.0)
  targets = floats(split.x[:, -TARGETS:])
  masks = split.masks[:, -TARGETS:]
  out, official = {}, {}
  for k in range(TARGETS):
    p, t, mask = (jnp.asarray(a[:, k]) for a in (predicted, targets, masks))
    values = m.frame_metrics((p + 1) / 2, (t + 1) / 2, mask)
    out[f"frame_{k + 1}"] = jax.tree.map(np.asarray, values)
    official[f"frame_{k + 1}"] = jax.tree.map(np.asarray, m.official_metrics(p, t, mask))
  return {**out, "official": official}


def summary(values: dict) -> dict:
  """``per_sequence``'s arrays as {'mean', 'low', 'high'} (95% bootstrap over sequences)."""
  from jaxgan.metrics.frames import summarise

  return jax.tree.map(summarise, values, is_leaf=lambda x: isinstance(x, np.ndarray))


def evaluate(state, dataset) -> dict:
  test, n = dataset.test, state.config.input_frames
  return {"model": summary(per_sequence(predictions(state, test), test)),
          "copy_last_frame": summary(per_sequence(copy_last_frame(test, n), test)),
          "metrics_note": "frames in [0, 1]: PSNR and sharpness in dB; 'moving' averages over the "
                          "pixels that changed from the previous frame; 'official' is the "
                          "official evaluation script's variant on moving areas",
          "paper_table_2_ucf101": PAPER_TABLE_2,
          "note": data_note(dataset.name)}


def figure(state, dataset, path: str, n: int = 4) -> None:
  """One row per test sequence: the input frames, the two true next frames, the two predicted."""
  from jaxrun import plots

  test = dataset.test
  sub = dataclasses.replace(test, x=test.x[:n], masks=test.masks[:n])
  c = state.config
  rows = np.concatenate([floats(inputs_of(sub, c.input_frames)), floats(sub.x[:, -TARGETS:]),
                         np.clip(predictions(state, sub), -1, 1)], 1)
  plots.image_grid(rows.reshape(-1, *rows.shape[2:]), path, ncols=rows.shape[1])


class FramesProgram(program.StepProgram):
  def __init__(self, dataset, settings, config, loop, out):
    super().__init__(program.Steps(init, train_step), "frames", dataset, settings, config, loop,
                     out, description=f"frames {config.loss} {settings.dataset}")

  def device_data(self) -> dict:
    return {"x": self.dataset.train.x}

  def evaluate(self, state, step, samples=None):
    return {}, evaluate(state, self.dataset)

  def figure(self, state, path: str, key=None, n: int = 4) -> None:
    figure(state, self.dataset, path, n=max(1, min(n, 16)))


def configure(dataset, settings, preset, overrides: dict, steps) -> FramesConfig:
  """A row of Table 2 at the data's frame size; the small networks on moving-digits unless
  ``--networks`` says otherwise."""
  overrides = {"networks": "small" if dataset.name.startswith("moving-digits") else "paper",
               **overrides}
  return FramesConfig.row(preset, frame_shape(dataset), **overrides)


METHOD = Method(
    name="frames",
    summary="next-frame prediction beyond MSE, multi-scale + GDL + adversarial (Mathieu et al. 2016)",
    config=FramesConfig, settings=FramesSettings, load=load, configure=configure, check=check,
    presets=tuple(ROWS), preset_for=lambda dataset, settings: "adv-gdl",
    derived=("frame_shape",), build=FramesProgram,
    loop_defaults=lambda config, settings: {**program.LOOP_DEFAULTS, "steps": 3000},
    default_out=lambda s: f"runs/frames-{s.dataset}",
    examples=lambda: {"adv-gdl": FramesConfig.row("adv-gdl", networks="small"),
                      "l2": FramesConfig.row("l2", networks="small"),
                      "single-scale-l2": FramesConfig.row("single-scale-l2", networks="small")})
