"""Next-frame prediction (Mathieu et al. 2016) on moving-digits: the paper's Table 2 as rows
(copy-the-last-frame, and the six presets: single-scale L2, L2, L1, GDL+L1, Adv (+L2), Adv+GDL
(+L1)); columns PSNR / SSIM / sharpness on moving areas and whole frames, for the first and second
predicted frames; the mean over the test sequences of the seed-averaged values, with a 95%
bootstrap interval over the test sequences; the paired differences the paper's claims rest on;
training speed; a figure of every model's predictions. Every run goes through `jaxgan train`'s loop.

  python benchmarks/frames.py --steps 2000 --seeds 3

The defaults fit 2 CPU cores: the official training script's small networks on 32 x 32
moving-digits. The paper's Table 1 networks: add `--networks paper` (a GPU job).

Writes benchmarks/results/NAME.{json,md,png} (after each seed, so an interrupted run keeps what it
finished). Training speed leaves out the chunks that compiled.
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

import common  # noqa: E402
from jaxgan.algos import METHODS, frames_run  # noqa: E402
from jaxgan.algos.frames import ROWS  # noqa: E402
from jaxgan.data.base import floats  # noqa: E402
from jaxgan.metrics.frames import paired_difference, summarise  # noqa: E402
from jaxrun import LoopConfig, run  # noqa: E402

METRICS = ("psnr", "ssim", "sharpness")
# (claim, row a, row b, metric, area): a - b > 0 with its interval above zero is the claim holding.
CLAIMS = [("Adv+GDL sharper than L2 (moving, frame {k})", "adv-gdl", "l2", "sharpness", "moving"),
          ("GDL+L1 sharper than L1 (moving, frame {k})", "gdl-l1", "l1", "sharpness", "moving"),
          ("Adv (+L2) sharper than L2 (moving, frame {k})", "adv", "l2", "sharpness", "moving"),
          ("multi-scale L2 PSNR minus single-scale L2 (moving, frame {k})", "l2", "single-scale-l2",
           "psnr", "moving")]


def _mean_over_seeds(per_seed: list[dict]) -> dict:
  """Per-sequence values averaged over the seeds (the test sequences stay paired)."""
  return {frame: {m: {area: np.mean([s[frame][m][area] for s in per_seed], 0)
                      for area in ("moving", "whole")} for m in METRICS}
          for frame in ("frame_1", "frame_2")}


def _table(values: dict) -> list[dict]:
  rows = []
  for name, v in values.items():
    row = {"model": name}
    for k in (1, 2):
      for m in METRICS:
        for area in ("moving", "whole"):
          s = summarise(v[f"frame_{k}"][m][area])
          row[f"f{k} {m} {area}"] = (f"{s['mean']:.3g} [{s['low']:.3g}, {s['high']:.3g}]"
                                     if s["mean"] is not None else None)
    paper = frames_run.PAPER_TABLE_2.get(name)
    row["paper UCF101 f1 (PSNR/SSIM/sharp.)"] = "/".join(map(str, paper[0])) if paper else None
    rows.append(row)
  return rows


def _claims(values: dict) -> list[dict]:
  out = []
  for text, a, b, metric, area in CLAIMS:
    if a in values and b in values:
      for k in (1, 2):
        d = paired_difference(values[a][f"frame_{k}"][metric][area],
                              values[b][f"frame_{k}"][metric][area])
        out.append({"claim": text.format(k=k), **d, "holds": d["low"] is not None and d["low"] > 0})
  copy = values.get("copy_last_frame")
  for name in values:
    if copy is not None and name != "copy_last_frame":
      d = paired_difference(values[name]["frame_1"]["psnr"]["moving"], copy["frame_1"]["psnr"]["moving"])
      out.append({"claim": f"{name} beats copy-last-frame (moving PSNR, frame 1)", **d,
                  "holds": d["mean"] is not None and d["mean"] > 0})
  return out


def _figure(rows: dict, dataset, input_frames: int, path: str, n: int = 3) -> None:
  """Per test sequence: a row of inputs and the true next two frames, then one row per model of
  its two predictions (under the true frames)."""
  from jaxrun import plots

  test = dataset.test
  seqs = floats(np.concatenate([frames_run.inputs_of(test, input_frames)[:n],
                                test.x[:n, -2:]], 1))
  blank = np.full(seqs.shape[2:], -1.0, np.float32)
  images = []
  for i in range(n):
    images += list(seqs[i])
    for predicted in rows.values():
      images += [blank] * input_frames + list(np.clip(predicted[i], -1, 1))
  plots.image_grid(np.stack(images), path, ncols=input_frames + 2)


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--steps", type=int, default=2000, help="generator iterations per run")
  p.add_argument("--seeds", type=int, default=3)
  p.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
  p.add_argument("--networks", default="small", choices=("small", "paper"))
  p.add_argument("--background", default="colour", choices=("grey", "colour"))
  p.add_argument("--image-size", type=int, default=32, choices=(32, 64),
                 help="moving-digits canvas side in px")
  p.add_argument("--name", default="frames")
  args = p.parse_args()

  method = METHODS.get("frames")
  settings = method.settings(background=args.background, image_size=args.image_size)
  per_row: dict[str, list] = {name: [] for name in args.rows}
  speeds, figure_rows, dataset, n_in = [], {}, None, 4
  with tempfile.TemporaryDirectory() as tmp:
    for seed in range(args.seeds):
      for name in args.rows:
        loop = LoopConfig(steps=args.steps, seed=seed, log_every=min(250, args.steps),
                          sample_every=0, checkpoint_every=args.steps, keep_checkpoints=1,
                          evaluate=False)
        r = run.Run.new(method, os.path.join(tmp, f"{name}-{seed}"), settings=settings,
                        preset=name, loop=loop, overrides={"networks": args.networks})
        state, summary = run.train(r, progress=False)
        dataset, n_in = r.context, state.config.input_frames
        predicted = frames_run.predictions(state, dataset.test)
        per_row[name].append(frames_run.per_sequence(predicted, dataset.test))
        if seed == 0:
          figure_rows[name] = predicted[:3]
        speeds.append({"row": name, "seed": seed, "iterations_per_s": summary.get("steps_per_s")})
        print(f"seed {seed} {name}: {summary.get('steps_per_s') or 0:.1f} it/s", file=sys.stderr,
              flush=True)
      copy = frames_run.per_sequence(frames_run.copy_last_frame(dataset.test, n_in), dataset.test)
      values = {"copy_last_frame": _mean_over_seeds([copy]),
                **{k: _mean_over_seeds(v) for k, v in per_row.items() if v}}
      _figure(figure_rows, dataset, n_in, os.path.join(common.RESULTS, f"{args.name}.png"))
      claims = _claims(values)
      rate = {name: float(np.mean([s["iterations_per_s"] for s in speeds
                                   if s["row"] == name and s["iterations_per_s"]] or [np.nan]))
              for name in args.rows}
      batch = r.config.batch_size
      extra = {"seeds_done": seed + 1, "claims": claims, "iterations_per_s": rate,
               # an iteration's G step reads a batch of 5-frame windows, its D step (adv) another
               "train_sequences_per_s": {k: v * batch * (2 if "adv" in ROWS[k][0] else 1)
                                         for k, v in rate.items()},
               "config": {"steps": args.steps, "networks": args.networks,
                          "background": args.background, "image_size": args.image_size,
                          "batch_size": batch},
               "paper_table_2_ucf101": frames_run.PAPER_TABLE_2}
      lines = [f"- {c['claim']}: {c['mean']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}] "
               f"({'holds' if c['holds'] else 'does not hold'})" for c in claims if c["mean"] is not None]
      notes = "\n".join([
          frames_run.data_note(dataset.name), "",
          f"{args.steps} iterations per run, {args.networks} networks, {seed + 1} seed(s); values: "
          "the mean over the 500 test sequences of the seed-averaged per-sequence value, [95% "
          "bootstrap interval over the sequences]. Frames in [0, 1]; PSNR and sharpness in dB; "
          "'moving': the pixels that changed from the previous frame. Frame 2 is predicted from "
          "frame 1 fed back. The paper's column is UCF101 (moving areas, frame 1), for reference "
          "only.", "", "Paired differences (a - b over the same test sequences):", *lines, "",
          "Training speed (iterations/s): " + ", ".join(f"{k} {v:.1f}" for k, v in rate.items())])
      print(common.write(args.name, extra, _table(values), notes))


if __name__ == "__main__":
  main()
