"""``shapes``: a generated, offline, seeded captioned-image dataset for text-to-image work.

Each image holds one coloured shape; five attributes describe it: colour (8), shape (5), size (3),
position (a 3x3 grid) and background (dark or light). The fine-grained classes, as CUB's species,
are the colour-shape combinations (40); size, position and background vary within a class. The
train / validation / test splits have disjoint classes (24 / 8 / 8), as in the CUB zero-shot
splits, chosen once so that every colour and every shape occurs among the training classes. Each
image has ten captions written from several templates with paraphrased attribute words
("a small red circle at the top left on a dark background", "there is a tiny red disc in the upper
left corner; the background is black", ...), all lower case in Reed et al.'s alphabet.

Images are drawn with PIL at twice the size and down-sampled (anti-aliased edges); the same seed
gives the same images and captions on every machine.
"""

import numpy as np
from PIL import Image, ImageDraw

from jaxgan.data.base import Dataset, Split

COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 230),
           "yellow": (235, 215, 30), "purple": (140, 50, 190), "orange": (245, 135, 20),
           "cyan": (30, 200, 210), "pink": (245, 120, 185)}
SHAPES = ("circle", "square", "triangle", "diamond", "cross")
SIZES = ("small", "medium", "large")
POSITIONS = ("top left", "top", "top right", "left", "centre", "right", "bottom left", "bottom",
             "bottom right")
BACKGROUNDS = ("dark", "light")
ATTRIBUTES = {"colour": tuple(COLOURS), "shape": SHAPES, "size": SIZES, "position": POSITIONS,
              "background": BACKGROUNDS}
IMAGE_SIZES = (32, 64, 128, 256)
CAPTIONS_PER_IMAGE = 10

_RADIUS = {"small": 0.11, "medium": 0.16, "large": 0.22}  # of the image side
_SPLIT_SEED = 0  # the class split: every colour and shape in training, 5 shapes in val and test

# Paraphrases of each attribute value.
_SIZE_WORDS = {"small": ("small", "little", "tiny"), "medium": ("medium-sized", "mid-sized", "medium"),
               "large": ("large", "big", "huge")}
_SHAPE_WORDS = {"circle": ("circle", "disc", "round shape"), "square": ("square", "box"),
                "triangle": ("triangle", "three-sided shape"), "diamond": ("diamond", "rhombus"),
                "cross": ("cross", "plus sign")}
_POSITION_WORDS = {
    "top left": ("at the top left", "in the upper left corner", "in the top left"),
    "top": ("at the top", "near the top edge", "in the upper middle"),
    "top right": ("at the top right", "in the upper right corner", "in the top right"),
    "left": ("on the left", "at the left side", "on the left edge"),
    "centre": ("in the centre", "in the middle", "right in the middle"),
    "right": ("on the right", "at the right side", "on the right edge"),
    "bottom left": ("at the bottom left", "in the lower left corner", "in the bottom left"),
    "bottom": ("at the bottom", "near the bottom edge", "in the lower middle"),
    "bottom right": ("at the bottom right", "in the lower right corner", "in the bottom right")}
_BACKGROUND_WORDS = {"dark": ("dark", "black", "dark grey"), "light": ("light", "white", "pale")}
_TEMPLATES = (
    "{a_size} {colour} {shape} {pos} on a {bg} background.",
    "this image shows {a_size} {colour} {shape} {pos} on a {bg} background.",
    "there is {a_size} {colour} {shape} {pos}; the background is {bg}.",
    "{a_colour} {shape}, {size}, sits {pos} against a {bg} background.",
    "the picture has a {bg} background with {a_size} {colour} {shape} {pos}.",
    "{pos} there is {a_size} {shape} coloured {colour}, on {bg}.",
    "{a_size} {shape} in {colour} {pos}, {bg} background.",
    "a {bg} image with {a_colour} {shape} {pos}; the {shape} is {size}.",
)


def _a(word: str) -> str:
  return ("an " if word[0] in "aeiou" else "a ") + word


def caption(attrs: dict, rng: np.random.Generator) -> str:
  """One caption of an image with attribute values ``attrs`` (names as in :data:`ATTRIBUTES`)."""
  pick = lambda options: options[rng.integers(len(options))]
  size, colour = pick(_SIZE_WORDS[attrs["size"]]), attrs["colour"]
  words = {"size": size, "colour": colour, "shape": pick(_SHAPE_WORDS[attrs["shape"]]),
           "pos": pick(_POSITION_WORDS[attrs["position"]]),
           "bg": pick(_BACKGROUND_WORDS[attrs["background"]]), "a_size": _a(size),
           "a_colour": _a(colour)}
  return pick(_TEMPLATES).format(**words)


def _background(kind: str, rng: np.random.Generator) -> tuple[int, int, int]:
  base = rng.integers(10, 50) if kind == "dark" else rng.integers(205, 245)
  return tuple(int(np.clip(base + rng.integers(-8, 9), 0, 255)) for _ in range(3))


def _polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
  if shape == "square":
    s = r * 0.9
    return [(cx - s, cy - s), (cx + s, cy - s), (cx + s, cy + s), (cx - s, cy + s)]
  if shape == "triangle":
    return [(cx, cy - r), (cx + 0.95 * r, cy + 0.7 * r), (cx - 0.95 * r, cy + 0.7 * r)]
  if shape == "diamond":
    return [(cx, cy - r), (cx + 0.75 * r, cy), (cx, cy + r), (cx - 0.75 * r, cy)]
  t = 0.33 * r  # cross: a plus sign of arm half-width t
  return [(cx - t, cy - r), (cx + t, cy - r), (cx + t, cy - t), (cx + r, cy - t), (cx + r, cy + t),
          (cx + t, cy + t), (cx + t, cy + r), (cx - t, cy + r), (cx - t, cy + t), (cx - r, cy + t),
          (cx - r, cy - t), (cx - t, cy - t)]


def render(attrs: dict, image_size: int, rng: np.random.Generator) -> np.ndarray:
  """The image [S, S, 3] uint8 of one shape with attribute values ``attrs`` (small random jitter in
  position, size and tint)."""
  big = 2 * image_size
  img = Image.new("RGB", (big, big), _background(attrs["background"], rng))
  row, col = divmod(POSITIONS.index(attrs["position"]), 3)
  jitter = lambda: rng.uniform(-0.03, 0.03) * big
  cx, cy = (0.22 + 0.28 * col) * big + jitter(), (0.22 + 0.28 * row) * big + jitter()
  r = _RADIUS[attrs["size"]] * big * rng.uniform(0.92, 1.08)
  colour = tuple(int(np.clip(c + rng.integers(-12, 13), 0, 255)) for c in COLOURS[attrs["colour"]])
  draw = ImageDraw.Draw(img)
  if attrs["shape"] == "circle":
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
  else:
    draw.polygon(_polygon(attrs["shape"], cx, cy, r), fill=colour)
  return np.asarray(img.resize((image_size, image_size), Image.LANCZOS))


def classes() -> list[tuple[str, str]]:
  """The 40 fine-grained classes: (colour, shape), class id = index."""
  return [(c, s) for c in COLOURS for s in SHAPES]


def class_split() -> dict[str, np.ndarray]:
  """Disjoint train / validation / test class ids (24 / 8 / 8), fixed."""
  order = np.random.default_rng(_SPLIT_SEED).permutation(len(classes()))
  split = {"train": np.sort(order[:24]), "validation": np.sort(order[24:32]),
           "test": np.sort(order[32:])}
  train = [classes()[i] for i in split["train"]]
  assert {c for c, _ in train} == set(COLOURS) and {s for _, s in train} == set(SHAPES)
  return split


def load_shapes(image_size: int = 64, per_class: int = 60, seed: int = 0) -> Dataset:
  """``per_class`` images of each of the 40 classes at ``image_size`` (32, 64, 128 or 256), with
  ten captions each and every attribute as an integer label (``Split.attributes``)."""
  if image_size not in IMAGE_SIZES:
    raise ValueError(f"shapes are drawn at image sizes {IMAGE_SIZES}, got {image_size}.")
  if per_class < 1:
    raise ValueError(f"per_class must be >= 1, got {per_class}.")
  splits = {}
  for name, ids in class_split().items():
    xs, caps, attrs, labels = [], [], {k: [] for k in ATTRIBUTES}, []
    for class_id in ids:
      colour, shape = classes()[class_id]
      for i in range(per_class):
        rng = np.random.default_rng([seed, int(class_id), i])
        a = {"colour": colour, "shape": shape,
             **{k: ATTRIBUTES[k][rng.integers(len(ATTRIBUTES[k]))]
                for k in ("size", "position", "background")}}
        xs.append(render(a, image_size, rng))
        caps.append([caption(a, rng) for _ in range(CAPTIONS_PER_IMAGE)])
        for k in ATTRIBUTES:
          attrs[k].append(ATTRIBUTES[k].index(a[k]))
        labels.append(class_id)
    splits[name] = Split(np.stack(xs), np.asarray(labels, np.int32), captions=np.array(caps, object),
                         attributes={k: np.asarray(v, np.int32) for k, v in attrs.items()})
  return Dataset("shapes", splits["train"], splits["validation"], splits["test"],
                 num_classes=len(classes()))
