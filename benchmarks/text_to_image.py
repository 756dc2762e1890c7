"""Text-to-image on the generated `shapes`: the Reed text encoder's zero-shot accuracy and
retrieval AP@50 on held-out classes, then StackGAN Stage-I and Stage-II trained on its embeddings,
scored side by side on the test classes (attribute accuracy, Fréchet distance and Inception-style
score on the attribute classifier, class-match accuracy in the joint embedding) with their
training and sampling speed. Every run goes through `jaxgan train`'s loop.

  python benchmarks/text_to_image.py --encoder-steps 1500 --stage1-steps 1500 --stage2-steps 300

The defaults fit 2 CPU cores: Stage-I at 32x32 and Stage-II at 128x128, with narrower networks
(gf/df given below) and the paper's optimiser, batch, lambda and loss otherwise. The paper's
networks at 64/256 px are a GPU job:

  python benchmarks/text_to_image.py --size 64 --gf 128 --df 64 --gf2 128 --df2 64 \
      --encoder-steps 2000 --stage1-steps 3000 --stage2-steps 3000 --name text_to_image_gpu_long

Stage-II against Stage-I over seeds (the text encoder trained once, Stage-I and Stage-II per
seed; ``--stage2-set FIELD=VALUE`` changes Stage-II's config, e.g. its unconditional head):

  python benchmarks/text_to_image.py --seeds 3 --stage2-set unconditional_head=true

Writes benchmarks/results/NAME.{json,md,png} (the JSON and table after each model, so an
interrupted run keeps what it finished). Training speed leaves out the chunks that compiled.
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402
import numpy as np  # noqa: E402

import common  # noqa: E402
from jaxgan.algos import METHODS, stackgan_run  # noqa: E402
from jaxgan.program import load_data  # noqa: E402
from jaxrun import LoopConfig, plots, run  # noqa: E402


def _train(method, size, steps, overrides, out, seed, **settings):
  loop = LoopConfig(steps=steps, seed=seed, log_every=min(100, steps), sample_every=10**9,
                    checkpoint_every=10**9, keep_checkpoints=1)
  m = METHODS.get(method)
  t = time.perf_counter()
  r = run.Run.new(m, out, settings=m.settings("shapes", image_size=size, **settings),
                  overrides=overrides, loop=loop)
  state, summary = run.train(r, progress=False)
  return state, summary, time.perf_counter() - t


def _sampling_speed(state, n: int = 256) -> float:
  emb = np.asarray(jax.random.normal(jax.random.key(0), (n, state.config.emb_dim)))
  np.asarray(stackgan_run._generate(state, jax.random.key(1), emb, True))  # compile
  t = time.perf_counter()
  np.asarray(stackgan_run._generate(state, jax.random.key(2), emb, True))
  return n / (time.perf_counter() - t)


def _figure(stages, encoder, args):
  """Test captions, Stage-I and Stage-II samples of the same noise side by side."""
  split = load_data(METHODS.get("stackgan").settings("shapes", image_size=4 * args.size)).test
  first = [int(np.nonzero(split.y == c)[0][0]) for c in np.unique(split.y)[:6]]
  texts = [split.captions[i, 0] for i in first]
  s1 = stackgan_run.caption_samples(stages[1], encoder, texts, 4, jax.random.key(7))
  s2 = stackgan_run.caption_samples(stages[2], encoder, texts, 4, jax.random.key(7))
  upscale = lambda x: np.repeat(np.repeat(x, 4, axis=1), 4, axis=2)
  os.makedirs(common.RESULTS, exist_ok=True)
  plots.captioned_rows([np.concatenate([upscale(a), b]) for a, b in zip(s1, s2)], texts,
                       os.path.join(common.RESULTS, f"{args.name}.png"))


def _over_seeds(seeds: list[dict]) -> list[dict]:
  """Each stage's mean over the seeds, and on how many seeds Stage-II reached Stage-I (attribute
  accuracy and class match at least Stage-I's, Fréchet distance lower)."""
  keys = {"attribute_mean": "test_attribute_mean", "colour": "test_attribute_colour",
          "shape": "test_attribute_shape", "frechet": "test_frechet",
          "class_match": "test_class_match_generated"}
  rows = [{"model": f"Stage-{'I' * stage}: mean over {len(seeds)} seeds",
           **{k: float(np.mean([s[f"stage{stage}"][v] for s in seeds])) for k, v in keys.items()}}
          for stage in (1, 2)]
  reached = lambda key, better: sum(better(s["stage2"][keys[key]], s["stage1"][keys[key]]) for s in seeds)
  rows.append({"model": "seeds where Stage-II reaches Stage-I",
               "attribute_mean": reached("attribute_mean", lambda a, b: a >= b),
               "frechet": reached("frechet", lambda a, b: a < b),
               "class_match": reached("class_match", lambda a, b: a >= b)})
  return rows


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--encoder-steps", type=int, default=1500)
  p.add_argument("--stage1-steps", type=int, default=1500)
  p.add_argument("--stage2-steps", type=int, default=300)
  p.add_argument("--size", type=int, default=32, help="Stage-I side (Stage-II: 4x)")
  p.add_argument("--gf", type=int, default=32, help="generator width (paper 128)")
  p.add_argument("--df", type=int, default=32, help="discriminator width (paper 64)")
  p.add_argument("--gf2", type=int, default=32, help="Stage-II generator width")
  p.add_argument("--df2", type=int, default=16, help="Stage-II discriminator width")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--seeds", type=int, default=1, help="Stage-I and Stage-II runs from --seed on")
  p.add_argument("--stage2-set", action="append", default=[], metavar="FIELD=VALUE",
                 help="a Stage-II config field (JSON value), e.g. unconditional_head=true")
  p.add_argument("--name", default="text_to_image")
  args = p.parse_args()
  stage2_overrides = common.config_fields(p, args.stage2_set, "--stage2-set")

  rows, result = [], {"seeds": []}
  with tempfile.TemporaryDirectory() as work:
    enc_dir = os.path.join(work, "enc")
    encoder, m, seconds = _train("text-encoder", args.size, args.encoder_steps, {}, enc_dir, args.seed)
    enc = m["eval"]
    result["text_encoder"] = {**enc, "seconds": seconds}
    rows.append({"model": "text encoder (Reed char-CNN-RNN + CNN)", "steps": args.encoder_steps,
                 "seconds": seconds, "zero_shot_top1_test": enc["test_zero_shot_top1"],
                 "ap_at_50_test": enc["test_ap_at_50"]})
    print(rows[-1], flush=True)
    common.write(args.name, result, rows, "(partial: the run goes on)")

    for seed in range(args.seed, args.seed + args.seeds):
      s1_dir, s2_dir = (os.path.join(work, f"{d}-{seed}") for d in ("s1", "s2"))
      stages, scores = {}, {"seed": seed}
      result["seeds"].append(scores)
      for stage, (steps, d, gf, df, size) in {
          1: (args.stage1_steps, s1_dir, args.gf, args.df, args.size),
          2: (args.stage2_steps, s2_dir, args.gf2, args.df2, 4 * args.size)}.items():
        overrides = {"stage": stage, "gf_dim": gf, "df_dim": df,
                     **(stage2_overrides if stage == 2 else {})}
        builds_on = {"text_encoder": enc_dir} if stage == 1 else {"stage1": s1_dir}
        state, m, seconds = _train("stackgan", size, steps, overrides, d, seed, **builds_on)
        ev = m["eval"]
        stages[stage] = state
        scores[f"stage{stage}"] = {**ev, "seconds": seconds, "overrides": overrides}
        # Training speed without compilation (the loop times the chunks it had compiled before).
        steps_per_s = m.get("steps_per_s", steps / seconds)
        extra = "".join(f", {k} {v}" for k, v in stage2_overrides.items()) if stage == 2 else ""
        rows.append({"model": f"StackGAN Stage-{'I' * stage} ({size}x{size}, gf {gf}, df {df}{extra})",
                     "seed": seed, "steps": steps, "seconds": seconds,
                     "train_images_per_s": steps_per_s * state.config.batch_size,
                     "sample_images_per_s": _sampling_speed(state),
                     "attribute_mean": ev["test_attribute_mean"],
                     "attribute_all": ev["test_attribute_all"],
                     "colour": ev["test_attribute_colour"], "shape": ev["test_attribute_shape"],
                     "frechet": ev["test_frechet"], "inception_score": ev["test_inception_score"],
                     "class_match": ev["test_class_match_generated"]})
        print(rows[-1], flush=True)
        common.write(args.name, result, rows, "(partial: the run goes on)")
      if seed == args.seed:
        _figure(stages, encoder, args)
    real_class_match = result["seeds"][0]["stage1"]["test_class_match_real"]
    classifier_real = result["seeds"][0]["stage1"]["test_attribute_classifier_real_test_mean"]
    if args.seeds > 1:
      rows += _over_seeds(result["seeds"])

  notes = (f"Shapes test classes (8 colour-shape combinations never seen in training). Text encoder: "
           f"Reed's network and optimiser at {args.size}x{args.size}, zero-shot top-1 (chance 1/8) and "
           f"AP@50 on the test classes. StackGAN: the paper's optimiser (Adam 2e-4, beta1 0.5), batch "
           f"64, lambda 2.0 and losses with the narrower networks named in the rows; one image per "
           f"test image from its first caption. attribute_*: the attribute classifier's reading of "
           f"the generated images against their captions (the classifier reads real test images at "
           f"{classifier_real:.3f} mean accuracy); frechet and inception_score on its features and "
           f"colour x shape prediction; class_match: the share of generated images the text "
           f"encoder's joint embedding assigns to their caption's class (real test images: "
           f"{real_class_match:.3f}). Figure: per caption, 4 Stage-I samples (enlarged 4x) then 4 "
           f"Stage-II samples from the same noise: benchmarks/results/{args.name}.png.")
  print(common.write(args.name, result, rows, notes))


if __name__ == "__main__":
  main()
