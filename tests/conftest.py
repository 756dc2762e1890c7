"""Four fake CPU devices for the data-parallel tests (set before JAX initialises a backend); a
builder of caption folders in Reed's layout."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

# The suite is compile-bound (on the 2-core EPYC of 2026-12-07, XLA compiling took 1,863 of its
# tests' 2,922 seconds and tracing and lowering 428 more), so it compiles for compilation speed:
# LLVM's optimisation level 1 compiles these programs 1.5-3x faster for steps about 17% slower,
# and XLA:CPU's older loop emitters instead of its MLIR fusion emitters took 20% off six
# compile-bound tests (140 s -> 112 s). A user's XLA_FLAGS that already chooses a level wins.
# Tests compare runs with each other, never against numbers computed under other flags.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=1"
                             " --xla_cpu_use_fusion_emitters=false").strip()

import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 4)

# Under pytest-xdist the workers share one compilation cache for this run, so a program one
# worker compiled (the session fixtures' runs, a chunk two modules train) is read by the other.
# The instruments kept in the user's cache (the attribute classifier) go to this run's own
# directory too: the suite neither reads nor writes ~/.cache.
import tempfile  # noqa: E402

if os.environ.get("PYTEST_XDIST_TESTRUNUID"):
  _RUN_DIR = os.path.join(tempfile.gettempdir(), f"jaxgan-tests-{os.environ['PYTEST_XDIST_TESTRUNUID']}")
  jax.config.update("jax_compilation_cache_dir", _RUN_DIR)
else:
  _RUN_DIR = tempfile.mkdtemp(prefix="jaxgan-tests-")
os.environ["JAXGAN_CACHE"] = os.path.join(_RUN_DIR, "user-cache")


import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402


def _memory_mappings() -> int:
  try:
    with open("/proc/self/maps") as f:
      return sum(1 for _ in f)
  except OSError:
    return 0


@pytest.fixture(autouse=True)
def _release_compiled_programs():
  """Drops JAX's compiled programs when the process holds many memory mappings. Every executable
  XLA:CPU compiles keeps some, and the suite's thousands of compilations in one process passed
  the kernel's vm.max_map_count (65,530): LLVM then aborted in the middle of a compile. Clearing
  only past a threshold keeps the programs that tests share compiled."""
  yield
  if _memory_mappings() > 30_000:
    jax.clear_caches()


def _reed_folder(root, train=("001.A",), val=("002.B",), test=("003.C",), n=2, k=10, features=None):
  """A caption folder in Reed's CUB / Oxford-102 layout: ``n`` images per class with ``k`` captions
  each; ``features``, a [D] or [crops, D] array, is saved (plus the image index) per image."""
  root.mkdir(exist_ok=True)
  for split, classes in (("train", train), ("val", val), ("test", test)):
    (root / f"{split}classes.txt").write_text("\n".join(classes) + "\n")
    for cls in classes:
      (root / "text_c10" / cls).mkdir(parents=True)
      (root / "images" / cls).mkdir(parents=True)
      for i in range(n):
        (root / "text_c10" / cls / f"img{i}.txt").write_text(
            "\n".join(f"caption {j} of {cls}" for j in range(k)))
        Image.new("RGB", (40, 30), (i * 50, 10, 10)).save(root / "images" / cls / f"img{i}.jpg")
        if features is not None:
          (root / "features" / cls).mkdir(parents=True, exist_ok=True)
          np.save(root / "features" / cls / f"img{i}.npy", np.asarray(features) + i)
  return root


@pytest.fixture
def reed_folder():
  return _reed_folder


# Next-frame networks small enough to compile in seconds (per scale: G's two 3x3 convolutions to
# 4 maps; D's convolution to 4 maps and its two fully connected layers), registered as
# ``--networks tiny`` by the ``tiny_frame_networks`` fixture.
TINY_FRAME_G = tuple(((3, 3), (4,)) for _ in range(4))
TINY_FRAME_D = tuple(((3,), (4,), (8,)) for _ in range(4))


@pytest.fixture(scope="session")
def tiny_frame_networks():
  from jaxgan.algos import frames

  with pytest.MonkeyPatch.context() as patch:
    patch.setitem(frames.NETWORKS, "tiny", (TINY_FRAME_G, TINY_FRAME_D))
    yield


# A text encoder small enough to train in seconds (shapes at 32 px), for the StackGAN runs.
TINY_ENCODER = {"classes_per_batch": 4, "captions_per_class": 1, "emb_dim": 16, "max_length": 110,
                "conv_features": (16, 16), "cnn_dim": 16, "image_width": 8}


@pytest.fixture(scope="session")
def text_encoder_run(tmp_path_factory):
  """The run directory of a tiny trained text encoder on shapes (32 px, 3 images per class)."""
  from jaxgan.algos import text_encoder
  from jaxgan.program import CaptionSettings
  from jaxrun import LoopConfig, run

  out = str(tmp_path_factory.mktemp("text-encoder") / "run")
  r = run.Run.new(text_encoder.METHOD, out, settings=CaptionSettings("shapes", 32, max_examples=3),
                  overrides=TINY_ENCODER, loop=LoopConfig(steps=2, log_every=2, evaluate=False))
  run.train(r, progress=False)
  return out
