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

A run of several hours can be split: with ``--work DIR`` the runs are kept in DIR, and the same
command again takes the models DIR has finished as they are, resumes the one a kill interrupted
from its newest checkpoint (the same bits as a run never stopped) and trains the rest:

  python benchmarks/text_to_image.py --seeds 3 --stage2-steps 1200 --work runs/t2i  # (killed)
  python benchmarks/text_to_image.py --seeds 3 --stage2-steps 1200 --work runs/t2i  # goes on
  python benchmarks/text_to_image.py --seeds 5 --stage2-steps 1200 --work runs/t2i  # 2 seeds more

A resumed model's ``seconds`` are its loop's, summed over the processes that trained it.

Each row scores one draw of the generators' noise over the test captions. Whether a seed's Stage-II
against Stage-I is more than that draw's noise: ``--eval-draws 8`` scores each seed's two models
on 8 draws and counts the draws where Stage-II reaches Stage-I (the same command with ``--work``
and ``--eval-draws`` added scores the models DIR holds, without training them again).
"""

import argparse
import contextlib
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
from jaxrun import LoopConfig, files, plots, run  # noqa: E402

# A kept run (--work) checkpoints this often, so a kill loses at most these steps of a model.
KEPT_CHECKPOINT_EVERY = 100


def _train(method, size, steps, overrides, out, seed, keep: bool, **settings):
  """(state, summary, seconds) of a new run in ``out``, or of the run a kill left there."""
  t = time.perf_counter()
  if keep and os.path.exists(files.RunDir(out).config):
    state, summary = run.resume(out, METHODS, progress=False)
    return state, {**summary, "resumed": True}, summary["seconds"]
  loop = LoopConfig(steps=steps, seed=seed, log_every=min(100, steps), sample_every=10**9,
                    checkpoint_every=KEPT_CHECKPOINT_EVERY if keep else 10**9, keep_checkpoints=1)
  m = METHODS.get(method)
  r = run.Run.new(m, out, settings=m.settings("shapes", image_size=size, **settings),
                  overrides=overrides, loop=loop)
  state, summary = run.train(r, progress=False)
  return state, summary, time.perf_counter() - t


class Finished:
  """The models a kept run (--work) has finished: their table rows and scores (and the scores of
  their noise draws), in DIR/finished.json, written after each. A directory kept for other
  arguments is refused, except for another ``seeds``: each model is kept under its own seed, so a
  larger count trains the new seeds and takes the others as they are (a smaller one reports the
  first seeds alone)."""

  GROWS = ("seeds",)

  def __init__(self, work: str, args: dict):
    self.path = os.path.join(work, "finished.json")
    done = files.read_json(self.path, "list of finished models") if os.path.exists(self.path) else None
    fixed = lambda a: {k: v for k, v in a.items() if k not in self.GROWS}
    if done is not None and fixed(done["args"]) != fixed(args):
      changed = sorted(k for k in fixed(args) if done["args"].get(k) != args[k])
      raise SystemExit(f"{work} holds a run of other arguments ({', '.join(changed)}); pass "
                       "those of that run or another --work.")
    self.args, self.models = args, (done or {}).get("models", {})

  def add(self, key: str, value: dict) -> None:
    self.models[key] = value
    files.write_json(self.path, {"args": self.args, "models": self.models})


def _sampling_speed(state, n: int = 256) -> float:
  emb = np.asarray(jax.random.normal(jax.random.key(0), (n, state.config.emb_dim)))
  np.asarray(stackgan_run._generate(state, jax.random.key(1), emb, True))  # compile
  t = time.perf_counter()
  np.asarray(stackgan_run._generate(state, jax.random.key(2), emb, True))
  return n / (time.perf_counter() - t)


def _figure(enc_dir, s1_dir, s2_dir, args):
  """Test captions, Stage-I and Stage-II samples of the same noise side by side."""
  encoder, stage1, stage2 = (run.reopen(d, METHODS)[2] for d in (enc_dir, s1_dir, s2_dir))
  split = load_data(METHODS.get("stackgan").settings("shapes", image_size=4 * args.size)).test
  first = [int(np.nonzero(split.y == c)[0][0]) for c in np.unique(split.y)[:6]]
  texts = [split.captions[i, 0] for i in first]
  s1 = stackgan_run.caption_samples(stage1, encoder, texts, 4, jax.random.key(7))
  s2 = stackgan_run.caption_samples(stage2, encoder, texts, 4, jax.random.key(7))
  upscale = lambda x: np.repeat(np.repeat(x, 4, axis=1), 4, axis=2)
  os.makedirs(common.RESULTS, exist_ok=True)
  plots.captioned_rows([np.concatenate([upscale(a), b]) for a, b in zip(s1, s2)], texts,
                       os.path.join(common.RESULTS, f"{args.name}.png"))


def _resumed(summary: dict) -> dict:
  """A row's mark for a model that a kept run (--work) resumed after a kill."""
  return {"resumed": True} if summary.get("resumed") else {}


# The scores Stage-II is held to, as table columns of the evaluation's keys, and how it reaches
# Stage-I on each (attribute accuracy and class match at least Stage-I's, Fréchet distance lower).
SCORES = {"attribute_mean": "test_attribute_mean", "colour": "test_attribute_colour",
          "shape": "test_attribute_shape", "frechet": "test_frechet",
          "class_match": "test_class_match_generated"}
REACHES = {"attribute_mean": lambda s2, s1: s2 >= s1, "frechet": lambda s2, s1: s2 < s1,
           "class_match": lambda s2, s1: s2 >= s1}


def _columns(scores: dict) -> dict:
  return {k: scores[v] for k, v in SCORES.items()}


def _reached(pairs: list[tuple[dict, dict]]) -> dict:
  """Per score, on how many (Stage-I, Stage-II) pairs of column dicts Stage-II reaches Stage-I."""
  return {k: sum(bool(better(s2[k], s1[k])) for s1, s2 in pairs) for k, better in REACHES.items()}


def _over_seeds(seeds: list[dict]) -> list[dict]:
  """Each stage's mean over the seeds, and on how many seeds Stage-II reached Stage-I."""
  rows = [{"model": f"Stage-{'I' * stage}: mean over {len(seeds)} seeds",
           **{k: float(np.mean([_columns(s[f"stage{stage}"])[k] for s in seeds])) for k in SCORES}}
          for stage in (1, 2)]
  rows.append({"model": "seeds where Stage-II reaches Stage-I",
               **_reached([(_columns(s["stage1"]), _columns(s["stage2"])) for s in seeds])})
  return rows


def _noise_draws(finished: Finished, seed: int, dirs: dict, scores: dict, n: int) -> dict:
  """Each stage's scores (table columns) on ``n`` draws of the generators' noise: draw d scores
  with key d, so draw 0 is the table's row and Stage-I and Stage-II share each draw's key. What
  one seed's row can tell apart: the spread that is the evaluation's alone, the models fixed."""
  key = f"noise-draws-{n}-seed{seed}"
  if key not in finished.models:
    draws = {}
    for stage, d in dirs.items():
      _, program, state = run.reopen(d, METHODS)
      draws[stage] = [_columns(scores[stage])] + [_columns(stackgan_run.evaluate(
          state, program.encoder, program.dataset, jax.random.key(k))) for k in range(1, n)]
    finished.add(key, draws)
  return finished.models[key]


def _noise_draw_rows(seed: int, draws: dict) -> list[dict]:
  n = len(draws["stage1"])
  cell = lambda v: common.mean_sd_cell(v, digits=4, ddof=1)
  rows = [{"model": f"Stage-{'I' * stage}, seed {seed}: mean ± sd over {n} noise draws", "seed": seed,
           **{k: cell([d[k] for d in draws[f"stage{stage}"]]) for k in SCORES}} for stage in (1, 2)]
  rows.append({"model": f"seed {seed}: noise draws where Stage-II reaches Stage-I", "seed": seed,
               **_reached(list(zip(draws["stage1"], draws["stage2"])))})
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
  p.add_argument("--eval-draws", type=int, default=1, metavar="N",
                 help="also score each seed's models on N draws of the generators' noise (draw 0 "
                 "is the table's) and report each score's mean and spread over the draws: how much "
                 "of a seed's Stage-II against Stage-I is the evaluation's noise")
  p.add_argument("--name", default="text_to_image")
  p.add_argument("--work", help="keep the runs in this directory and, run again, go on from what "
                 "it holds (see above); default: a temporary directory")
  args = p.parse_args()
  stage2_overrides = common.config_fields(p, args.stage2_set, "--stage2-set")
  if args.eval_draws < 1:
    p.error(f"--eval-draws {args.eval_draws}: pass 1 (the table's draw alone) or more.")
  keep = args.work is not None
  # (what a kept run was trained with: the noise draws score its models without changing them)
  what = {k: v for k, v in vars(args).items() if k not in ("name", "work", "eval_draws")}

  rows, result = [], {"seeds": []}
  kept = contextlib.nullcontext(os.path.abspath(args.work)) if keep else None
  with kept or tempfile.TemporaryDirectory() as work:
    os.makedirs(work, exist_ok=True)
    finished = Finished(work, what)
    enc_dir = os.path.join(work, "enc")
    if "encoder" not in finished.models:
      _, m, seconds = _train("text-encoder", args.size, args.encoder_steps, {}, enc_dir, args.seed,
                             keep)
      enc = m["eval"]
      finished.add("encoder", {"scores": {**enc, "seconds": seconds}, "row": {
          "model": "text encoder (Reed char-CNN-RNN + CNN)", "steps": args.encoder_steps,
          "seconds": seconds, **_resumed(m), "zero_shot_top1_test": enc["test_zero_shot_top1"],
          "ap_at_50_test": enc["test_ap_at_50"]}})
    result["text_encoder"] = finished.models["encoder"]["scores"]
    rows.append(finished.models["encoder"]["row"])
    print(rows[-1], flush=True)
    common.write(args.name, result, rows, "(partial: the run goes on)")

    for seed in range(args.seed, args.seed + args.seeds):
      s1_dir, s2_dir = (os.path.join(work, f"{d}-{seed}") for d in ("s1", "s2"))
      scores = {"seed": seed}
      result["seeds"].append(scores)
      for stage, (steps, d, gf, df, size) in {
          1: (args.stage1_steps, s1_dir, args.gf, args.df, args.size),
          2: (args.stage2_steps, s2_dir, args.gf2, args.df2, 4 * args.size)}.items():
        key = f"stage{stage}-seed{seed}"
        overrides = {"stage": stage, "gf_dim": gf, "df_dim": df,
                     **(stage2_overrides if stage == 2 else {})}
        if key not in finished.models:
          builds_on = {"text_encoder": enc_dir} if stage == 1 else {"stage1": s1_dir}
          state, m, seconds = _train("stackgan", size, steps, overrides, d, seed, keep, **builds_on)
          ev = m["eval"]
          # Training speed without compilation (the loop times the chunks it had compiled before).
          steps_per_s = m.get("steps_per_s", steps / seconds)
          extra = "".join(f", {k} {v}" for k, v in stage2_overrides.items()) if stage == 2 else ""
          finished.add(key, {"scores": {**ev, "seconds": seconds, "overrides": overrides}, "row": {
              "model": f"StackGAN Stage-{'I' * stage} ({size}x{size}, gf {gf}, df {df}{extra})",
              "seed": seed, "steps": steps, "seconds": seconds, **_resumed(m),
              "train_images_per_s": steps_per_s * state.config.batch_size,
              "sample_images_per_s": _sampling_speed(state),
              "attribute_mean": ev["test_attribute_mean"],
              "attribute_all": ev["test_attribute_all"],
              "colour": ev["test_attribute_colour"], "shape": ev["test_attribute_shape"],
              "frechet": ev["test_frechet"], "inception_score": ev["test_inception_score"],
              "class_match": ev["test_class_match_generated"]}})
        scores[f"stage{stage}"] = finished.models[key]["scores"]
        rows.append(finished.models[key]["row"])
        print(rows[-1], flush=True)
        common.write(args.name, result, rows, "(partial: the run goes on)")
      if seed == args.seed:
        _figure(enc_dir, s1_dir, s2_dir, args)
      if args.eval_draws > 1:
        scores["noise_draws"] = _noise_draws(finished, seed, {"stage1": s1_dir, "stage2": s2_dir},
                                             scores, args.eval_draws)
        rows += _noise_draw_rows(seed, scores["noise_draws"])
        print(rows[-1], flush=True)
        common.write(args.name, result, rows, "(partial: the run goes on)")
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
           f"Stage-II samples from the same noise: benchmarks/results/{args.name}.png."
           + (f" Noise draws: each seed's models scored again on {args.eval_draws} draws of the "
              f"generators' noise (draw 0 is the row above; the same draws for both stages), the "
              f"mean and sample standard deviation over the draws, and on how many draws Stage-II "
              f"reaches Stage-I." if args.eval_draws > 1 else ""))
  print(common.write(args.name, result, rows, notes))


if __name__ == "__main__":
  main()
