"""Captions: Reed et al.'s character alphabet and encoding, and the captioned-image folder layout
that Reed et al. (CVPR 2016) and StackGAN use for CUB-200-2011 and Oxford-102.

Encoding: a caption is lower-cased and becomes the indices (1..len(ALPHABET)) of its characters,
zero-padded to ``MAX_LENGTH`` = 201 (Reed's length); the text encoder reads 0 as "no character"
(an all-zero one-hot row). An empty caption or a character outside the alphabet is an error;
a caption longer than 201 characters is truncated to its first 201, as Reed's loader does.

Folder layout (``folder:ROOT``)::

    ROOT/images/CLASS/STEM.jpg     (or ROOT/images/STEM.jpg, ROOT/jpg/STEM.jpg: Oxford-102)
    ROOT/text_c10/CLASS/STEM.txt   one caption per line (ten in Reed's data)
    ROOT/trainclasses.txt, valclasses.txt, testclasses.txt   one CLASS per line (disjoint)
"""

import os

import numpy as np
from PIL import Image

from jaxgan.data.base import Dataset, Split

# Reed et al.'s alphabet (cvpr2016 / icml2016 char-CNN-RNN), each character once (Reed's string
# lists '-' twice, 70 entries; the second one is never reached).
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789-,;.!?:'\"/\\|_@#$%^&*~`+=<>()[]{} "
MAX_LENGTH = 201
_INDEX = {c: i + 1 for i, c in enumerate(ALPHABET)}


def encode(caption: str, max_length: int = MAX_LENGTH) -> np.ndarray:
  """int32 [max_length]: character indices (1-based) of the lower-cased caption, zero-padded."""
  text = caption.lower().strip()
  if not text:
    raise ValueError("empty caption: describe the image in words, e.g. "
                     "'a small red circle at the top left on a dark background'.")
  bad = sorted({c for c in text if c not in _INDEX})
  if bad:
    raise ValueError(f"caption {caption!r} has characters outside the text encoder's alphabet: "
                     f"{''.join(bad)!r}; use letters, digits, spaces and {ALPHABET[36:-1]}.")
  codes = np.zeros(max_length, np.int32)
  text = text[:max_length]  # Reed truncates at 201 characters
  codes[:len(text)] = [_INDEX[c] for c in text]
  return codes


def encode_all(captions, max_length: int = MAX_LENGTH) -> np.ndarray:
  """int32 [..., max_length] for an array (or nested list) of captions."""
  arr = np.asarray(captions, object)
  flat = [encode(c, max_length) for c in arr.ravel()]
  return np.stack(flat).reshape(*arr.shape, max_length)


def decode(codes: np.ndarray) -> str:
  return "".join(ALPHABET[int(i) - 1] for i in codes if i > 0)


# ---- Reed / StackGAN folder layout --------------------------------------------------------------

SPLIT_FILES = {"train": "trainclasses.txt", "validation": "valclasses.txt", "test": "testclasses.txt"}


def _layout_error(root: str, what: str) -> ValueError:
  return ValueError(
      f"{root} is not a captioned-image folder ({what}). Expected ROOT/images/CLASS/STEM.jpg (or "
      "ROOT/images/STEM.jpg, ROOT/jpg/STEM.jpg), ROOT/text_c10/CLASS/STEM.txt with one caption per "
      "line, and ROOT/trainclasses.txt, valclasses.txt, testclasses.txt listing the classes: the "
      "layout of Reed et al.'s CUB-200-2011 and Oxford-102 caption data. Optional fixed image "
      "features: ROOT/features/CLASS/STEM.npy, a [D] or [crops, D] array per image.")


def _features(root: str, cls: str, stem: str) -> np.ndarray:
  """The fixed feature vector [D] of one image (Reed's GoogLeNet features, say, saved as .npy);
  a [crops, D] array is averaged over its crops."""
  path = os.path.join(root, "features", cls, stem + ".npy")
  if not os.path.exists(path):
    raise _layout_error(root, f"features/ is there but features/{cls}/{stem}.npy is missing")
  f = np.load(path).astype(np.float32)
  if f.ndim not in (1, 2):
    raise _layout_error(root, f"features/{cls}/{stem}.npy has shape {f.shape}, not [D] or [crops, D]")
  return f if f.ndim == 1 else f.mean(0)


def _find_image(root: str, cls: str, stem: str) -> str | None:
  for folder in (os.path.join(root, "images", cls), os.path.join(root, "images"),
                 os.path.join(root, "jpg")):
    for ext in (".jpg", ".jpeg", ".png"):
      path = os.path.join(folder, stem + ext)
      if os.path.exists(path):
        return path
  return None


def _square(path: str, size: int) -> np.ndarray:
  img = Image.open(path).convert("RGB")
  w, h = img.size
  s = min(w, h)
  img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
  return np.asarray(img.resize((size, size), Image.BICUBIC))


def load_folder(root: str, image_size: int = 64, captions_per_image: int = 10,
                max_per_class: int | None = None) -> Dataset:
  """A captioned-image folder in Reed's layout: images centre-cropped and resized to
  ``image_size``, ``captions_per_image`` captions each (an image with fewer is an error), and,
  where ROOT/features/ exists, each image's fixed feature vector (``Split.features``)."""
  if not os.path.isdir(root):
    raise _layout_error(root, "no such directory")
  for f in SPLIT_FILES.values():
    if not os.path.exists(os.path.join(root, f)):
      raise _layout_error(root, f"{f} is missing")
  if not os.path.isdir(os.path.join(root, "text_c10")):
    raise _layout_error(root, "text_c10/ is missing")
  split_classes = {name: [l.strip() for l in open(os.path.join(root, f)) if l.strip()]
                   for name, f in SPLIT_FILES.items()}
  all_classes = sorted(c for cs in split_classes.values() for c in cs)
  if len(set(all_classes)) != len(all_classes):
    raise _layout_error(root, "a class is listed in more than one split file")
  class_id = {c: i for i, c in enumerate(all_classes)}
  with_features = os.path.isdir(os.path.join(root, "features"))
  splits, sizes = {}, set()
  for name, cls_list in split_classes.items():
    xs, caps, ys, feats = [], [], [], []
    for cls in cls_list:
      text_dir = os.path.join(root, "text_c10", cls)
      if not os.path.isdir(text_dir):
        raise _layout_error(root, f"text_c10/{cls}/ is missing")
      stems = sorted(f[:-4] for f in os.listdir(text_dir) if f.endswith(".txt"))[:max_per_class]
      for stem in stems:
        lines = [l.strip() for l in open(os.path.join(text_dir, stem + ".txt")) if l.strip()]
        if len(lines) < captions_per_image:
          raise _layout_error(root, f"text_c10/{cls}/{stem}.txt has {len(lines)} captions, fewer "
                                    f"than {captions_per_image}")
        image = _find_image(root, cls, stem)
        if image is None:
          raise _layout_error(root, f"no image for text_c10/{cls}/{stem}.txt")
        xs.append(_square(image, image_size))
        caps.append(lines[:captions_per_image])
        ys.append(class_id[cls])
        if with_features:
          feats.append(_features(root, cls, stem))
          sizes.add(feats[-1].shape)
    if len(sizes) > 1:
      raise _layout_error(root, f"the features have different sizes {sorted(sizes)}")
    if not xs:
      raise _layout_error(root, f"the {name} classes have no captioned images")
    splits[name] = Split(np.stack(xs), np.asarray(ys, np.int32), captions=np.array(caps, object),
                         features=np.stack(feats) if feats else None)
  return Dataset(f"folder:{root}", splits["train"], splits["validation"], splits["test"],
                 num_classes=len(all_classes))
