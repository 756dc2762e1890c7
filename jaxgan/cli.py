"""``jaxgan``: train, sample from and evaluate GANs from the command line.

  jaxgan train wgan --dataset digits --steps 2000 --out runs/wgan-digits
  jaxgan train gan --dataset ring8 --steps 5000 --generator-loss saturating
  jaxgan train wgan --out runs/wgan-digits --resume --steps 4000
  jaxgan train text-encoder --dataset shapes --steps 3000 --out runs/text-shapes
  jaxgan train stackgan --stage 1 --dataset shapes --text-encoder runs/text-shapes --out runs/stage1
  jaxgan sample runs/stage1 --caption "a large red circle in the centre on a dark background" --out red.png
  jaxgan sample runs/stage1 --interpolate "a small blue square" "a large yellow circle" --out strip.png
  jaxgan sample runs/wgan-digits --out grid.png
  jaxgan eval runs/wgan-digits
"""

import argparse
import json
import sys

from jaxgan.algos import METHODS

# flag -> (config field(s), methods it applies to)
_OVERRIDES = {
    "batch_size": (("batch_size",), ("gan", "cgan", "wgan", "stackgan")),
    "lr": (("learning_rate",), ("gan", "cgan", "wgan", "text-encoder", "stackgan")),
    "text_encoder": (("text_encoder",), ("stackgan",)),
    "stage": (("stage",), ("stackgan",)),
    "stage1": (("stage1",), ("stackgan",)),
    "kl_weight": (("kl_weight",), ("stackgan",)),
    "z_dim": (("z_dim",), ("gan", "cgan", "wgan", "stackgan")),
    "gf_dim": (("gf_dim",), ("stackgan",)),
    "df_dim": (("df_dim",), ("stackgan",)),
    "arch": (("arch",), ("gan", "cgan", "wgan")),
    "width": (("width",), ("gan", "cgan", "wgan")),
    "hidden": (("hidden",), ("gan", "cgan", "wgan")),
    "k": (("k",), ("gan", "cgan")),
    "generator_loss": (("generator_loss",), ("gan", "cgan")),
    "optimizer": (("optimizer",), ("gan", "cgan")),
    "n_critic": (("n_critic",), ("wgan",)),
    "clip": (("clip",), ("wgan",)),
    "no_warmup": (("warmup_iterations", "warmup_every"), ("wgan",)),
    "no_batch_norm": (("batch_norm",), ("gan", "cgan", "wgan")),
    "classes_per_batch": (("classes_per_batch",), ("text-encoder",)),
    "captions_per_class": (("captions_per_class",), ("text-encoder",)),
    "emb_dim": (("emb_dim",), ("text-encoder",)),
    "max_length": (("max_length",), ("text-encoder",)),
    "image_encoder": (("image_encoder",), ("text-encoder",)),
}
_WGAN_NO_BN = ("generator_batch_norm", "critic_batch_norm")


def _overrides(args) -> dict:
  out = {}
  for flag, (fields, methods) in _OVERRIDES.items():
    value = getattr(args, flag)
    if value is None or value is False:
      continue
    if args.method not in methods:
      raise ValueError(f"--{flag.replace('_', '-')} applies to {', '.join(methods)}, not {args.method}.")
    if flag == "no_batch_norm":
      out.update({f: False for f in (_WGAN_NO_BN if args.method == "wgan" else fields)})
    elif flag == "no_warmup":
      out.update({f: 0 for f in fields})
    elif flag == "hidden":
      out["hidden"] = tuple(value)
    else:
      out[fields[0]] = value
  return out


def _add_train(sub) -> None:
  p = sub.add_parser("train", help="train a GAN or the text encoder (or continue with --resume)",
                     description="Train a GAN or the text encoder. Writes config.json, metrics.jsonl "
                     "(one line per iteration), sample grids (text encoder: retrieval figures), orbax "
                     "checkpoints, curves.png and eval.json to --out.")
  p.add_argument("method", choices=sorted(METHODS), help="gan (Goodfellow 2014), cgan (Mirza & "
                 "Osindero 2014), wgan (Arjovsky et al. 2017, weight clipping) or text-encoder (Reed "
                 "et al. 2016 char-CNN-RNN, structured joint embedding) or stackgan (Zhang et al. "
                 "2017; needs --text-encoder)")
  p.add_argument("--dataset", default="digits",
                 help="digits (bundled, default), ring8, grid25, shapes (generated captioned images), "
                      "tfds:NAME (e.g. tfds:mnist) or folder:ROOT (captioned images in Reed's layout)")
  p.add_argument("--steps", type=int, default=2000, help="generator iterations in total (default 2000)")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--out", default=None, help="run directory (default runs/METHOD-DATASET)")
  p.add_argument("--resume", action="store_true",
                 help="continue the run in --out from its last checkpoint (its config.json rules; "
                      "--steps may extend it)")
  g = p.add_argument_group("data")
  g.add_argument("--image-size", type=int, default=None,
                 help="resize images (digits: 8, 16, 32, 64; shapes: 32, 64, 128, 256)")
  g.add_argument("--data-dir", default=None, help="tensorflow-datasets data directory")
  g.add_argument("--max-examples", type=int, default=None,
                 help="read at most this many tfds examples (shapes: images per class, default 60; "
                      "folder: images per class)")
  g = p.add_argument_group("method (defaults: the paper presets; see README)")
  g.add_argument("--batch-size", type=int)
  g.add_argument("--lr", type=float, help="learning rate")
  g.add_argument("--z-dim", type=int)
  g.add_argument("--arch", help="gan/cgan: maxout | mlp | dcgan; wgan: dcgan | mlp")
  g.add_argument("--width", type=int, help="DCGAN base width (ngf = ndf)")
  g.add_argument("--hidden", type=int, nargs="+", help="MLP hidden widths")
  g.add_argument("--k", type=int, help="gan: discriminator steps per generator step")
  g.add_argument("--generator-loss", choices=("saturating", "non_saturating"), help="gan: the loss of "
                 "Algorithm 1 (saturating) or -log D(G(z)) (non_saturating)")
  g.add_argument("--optimizer", choices=("goodfellow_sgd", "adam"), help="gan")
  g.add_argument("--n-critic", type=int, help="wgan: critic iterations per generator iteration")
  g.add_argument("--clip", type=float, help="wgan: weight clipping bound c")
  g.add_argument("--no-warmup", action="store_true",
                 help="wgan: no 100-critic-iteration phases (first 25 and every 500th iteration)")
  g.add_argument("--no-batch-norm", action="store_true", help="DCGAN networks without batch norm")
  g.add_argument("--classes-per-batch", type=int, help="text-encoder: distinct classes per minibatch")
  g.add_argument("--captions-per-class", type=int, help="text-encoder: captions averaged per class")
  g.add_argument("--emb-dim", type=int, help="text-encoder: embedding size (1024)")
  g.add_argument("--max-length", type=int, help="text-encoder: characters per caption (201)")
  g.add_argument("--image-encoder", choices=("cnn", "fixed"),
                 help="text-encoder: image side, a CNN trained jointly (default) or the data set's "
                      "fixed features (folder:ROOT with features/CLASS/STEM.npy, as Reed's "
                      "GoogLeNet features; the embedding size becomes theirs)")
  g.add_argument("--stage", type=int, choices=(1, 2), default=None,
                 help="stackgan: 1 (32x32 or 64x64 from text) or 2 (4x that, refining a trained "
                      "Stage-I given by --stage1; train it at --image-size 4x Stage-I's)")
  g.add_argument("--stage1", help="stackgan --stage 2: run directory of the trained Stage-I")
  g.add_argument("--text-encoder", help="stackgan: run directory of a trained text encoder")
  g.add_argument("--kl-weight", type=float, help="stackgan: lambda of the conditioning KL (2.0)")
  g.add_argument("--gf-dim", type=int, help="stackgan: generator width (the 4x4 layer has 8x)")
  g.add_argument("--df-dim", type=int, help="stackgan: discriminator width")
  g = p.add_argument_group("loop")
  g.add_argument("--log-every", type=int, default=100,
                 help="generator iterations per jitted chunk (progress, NaN check)")
  g.add_argument("--sample-every", type=int, default=500)
  g.add_argument("--checkpoint-every", type=int, default=500)
  g.add_argument("--devices", type=int, default=1, help="data-parallel over this many devices")
  g.add_argument("--no-eval", action="store_true", help="skip the metrics at the end")
  g.add_argument("--eval-samples", type=int, default=10_000)
  g.add_argument("--no-progress", action="store_true")


def _train(args) -> int:
  from jaxgan import train as train_lib

  out = args.out or f"runs/{args.method}-{args.dataset.replace(':', '-')}"
  run = train_lib.RunConfig(
      method=args.method, dataset=args.dataset, steps=args.steps, seed=args.seed,
      image_size=args.image_size, data_dir=args.data_dir, max_examples=args.max_examples,
      log_every=args.log_every, sample_every=args.sample_every,
      checkpoint_every=args.checkpoint_every, devices=args.devices, evaluate=not args.no_eval,
      eval_samples=args.eval_samples)
  overrides = _overrides(args)
  if args.resume and overrides:
    raise ValueError("--resume continues a run with its saved config; drop the method flags "
                     f"({', '.join(overrides)}) or start a new run in another --out.")
  _, metrics = train_lib.train(run, overrides=overrides, out=out, resume=args.resume,
                               progress=not args.no_progress,
                               steps=args.steps if args.resume else None)
  print(json.dumps({"out": out, **metrics}))
  return 0


def _sample(args) -> int:
  import jax

  from jaxgan import train as train_lib

  run, _, state = train_lib.restore_state(args.dir, args.step)
  key = jax.random.key(args.seed)
  if args.caption is not None or args.interpolate is not None:
    from jaxgan import plots
    from jaxgan.algos import stackgan

    if run.method != "stackgan":
      raise ValueError(f"--caption and --interpolate sample a StackGAN run; {args.dir} holds {run.method}.")
    if args.caption is not None:
      images = stackgan.caption_samples(state, [args.caption], args.n, key)[0]
      plots.image_grid(images, args.out, ncols=min(args.n, 8))
    else:
      plots.image_grid(stackgan.interpolate(state, *args.interpolate, steps=args.steps, key=key),
                       args.out, ncols=args.steps)
  else:
    dataset = train_lib.load_dataset(run)
    train_lib.sample_grid(run.method, state, key, dataset, args.out, args.n)
  print(args.out)
  return 0


def _eval(args) -> int:
  from jaxgan import train as train_lib

  run, _, state = train_lib.restore_state(args.dir, args.step)
  dataset = train_lib.load_dataset(run)
  result = train_lib.evaluate_state(run.method, state, dataset, train_lib.eval_key(run.seed),
                                    args.dir, args.samples)
  print(json.dumps({"step": int(state.step), **result}))
  return 0


def parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="jaxgan", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = p.add_subparsers(dest="command", required=True)
  _add_train(sub)
  s = sub.add_parser("sample", help="write a sample grid (cgan: one row per class; 2-D: a scatter; "
                     "text-encoder: retrieval; stackgan: rows of test captions, or --caption / "
                     "--interpolate)")
  s.add_argument("dir", help="run directory")
  s.add_argument("--out", required=True, help="PNG file to write")
  s.add_argument("--n", type=int, default=64, help="number of samples (unconditional)")
  s.add_argument("--seed", type=int, default=0)
  s.add_argument("--step", type=int, default=None, help="checkpoint step (default: latest)")
  s.add_argument("--caption", default=None, help="stackgan: a grid of --n samples for this caption")
  s.add_argument("--interpolate", nargs=2, metavar=("CAPTION_A", "CAPTION_B"), default=None,
                 help="stackgan: one noise vector, the sentence embedding moved from A to B")
  s.add_argument("--steps", type=int, default=8, help="--interpolate: images in the strip")
  s.set_defaults(run=_sample)
  e = sub.add_parser("eval", help="print the run's metrics as one JSON object")
  e.add_argument("dir", help="run directory")
  e.add_argument("--samples", type=int, default=10_000, help="generated samples for the image metrics")
  e.add_argument("--step", type=int, default=None, help="checkpoint step (default: latest)")
  e.set_defaults(run=_eval)
  sub.choices["train"].set_defaults(run=_train)
  return p


def main(argv=None) -> int:
  args = parser().parse_args(argv)
  from jaxgan.data import DatasetNotPreparedError
  from jaxgan.train import TrainingDivergedError

  try:
    return args.run(args)
  except TrainingDivergedError as e:
    print(f"jaxgan: {e}", file=sys.stderr)
    return 1
  except (ValueError, FileExistsError, FileNotFoundError, DatasetNotPreparedError) as e:
    print(f"jaxgan {args.command}: error: {e}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())
