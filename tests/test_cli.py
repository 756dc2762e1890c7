"""The command line built from the configs (tyro): each method its own flags, each flag's help its
field's comment, presets, the README's commands."""

import dataclasses
import os
import re
import shlex

import pytest
import tyro

from jaxgan import cli as gan_cli
from jaxgan.algos import METHODS as GAN_METHODS
from jaxrl import cli as rl_cli
from jaxrl.methods import METHODS as RL_METHODS
from jaxrun import cli as run_cli
from jaxrun import run

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
ALL = [(GAN_METHODS, n) for n in GAN_METHODS.names()] + [(RL_METHODS, n) for n in RL_METHODS.names()]


def _help(main, argv, capsys) -> str:
  with pytest.raises(SystemExit) as e:
    main(argv)
  assert e.value.code == 0
  return " ".join(re.sub(r"[│╭╮╰╯─]", " ", capsys.readouterr().out).split())


def test_gan_help_shows_no_wgan_flag(capsys):
  text = _help(gan_cli.main, ["train", "gan", "--help"], capsys)
  assert "--generator-loss" in text and "--k INT" in text
  for wgan_only in ("--clip", "--n-critic", "--critic-batch-norm", "--warmup-every"):
    assert wgan_only not in text


def test_dqn_help_shows_every_config_field_with_its_comment(capsys):
  method = RL_METHODS.get("dqn")
  text = _help(rl_cli.main, ["train", "dqn", "--help"], capsys)
  comments = run_cli.field_comments(method.config)
  derived_flags = {"env": "--env", "total_steps": "--steps"}  # set from the settings and the loop
  for f in dataclasses.fields(method.config):
    assert derived_flags.get(f.name, run_cli.flag(f.name)) in text, f.name
    if f.name not in derived_flags:
      assert " ".join(comments[f.name].split()[:4]) in text, f.name
  assert "(default: 128; minatar: 32; nature: 32; cleanrl-atari: 32)" in text  # preset values


@pytest.mark.parametrize("registry, name", ALL, ids=[n for _, n in ALL])
def test_every_flag_has_its_fields_comment(registry, name):
  flags = run_cli.train_flags(registry.get(name))
  assert not [f.name for f in flags if not f.help]
  names = [f.name for f in flags]
  assert len(names) == len(set(names))  # no field of two groups shares a flag


def test_field_comments_follow_the_source():
  @dataclasses.dataclass
  class Example:
    alpha: int = 1        # the first
    beta: str = "b"       # the second, which goes on
                          # to a second line
    gamma: float = 0.5
    # a comment of its own
    delta: int = 2        # the fourth

  assert run_cli.field_comments(Example) == {
      "alpha": "the first", "beta": "the second, which goes on to a second line",
      "delta": "the fourth"}


def test_a_flag_of_another_method_names_this_methods_flags(capsys):
  assert rl_cli.main(["train", "dqn", "--clip", "0.1", "--bogus"]) == 2
  err = capsys.readouterr().err
  assert "--clip, --bogus are not flags of `jaxrl train dqn`" in err and "--buffer-size" in err


def test_a_preset_sets_the_config_and_a_flag_overrides_it():
  method = RL_METHODS.get("dqn")
  values, given = run_cli.parse("jaxrl train dqn", run_cli.train_flags(method),
                                ["--env", "CartPole-v1", "--preset", "minatar", "--batch-size", "64"])
  assert given == {"env", "preset", "batch_size"}
  r = run.Run.new(method, "unused", settings=method.settings(env="CartPole-v1"), preset="minatar",
                  overrides={"batch_size": values["batch_size"]})
  assert r.config.batch_size == 64 and r.config.buffer_size == 100_000 and r.config.loss == "huber"
  assert r.loop.steps == 5_000_000 and r.loop.checkpoint_every == 50_000  # the method's defaults


def _readme_commands():
  text = open(README).read()
  blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
  lines = [line.split("  #")[0].strip() for b in blocks for line in b.splitlines()]
  return [line for line in lines if line.startswith(("jaxgan ", "jaxrl "))]


@pytest.mark.parametrize("command", _readme_commands())
def test_the_readmes_commands_parse(command):
  """Every command the README shows is accepted as written (parsed, not run)."""
  tool, sub, *argv = shlex.split(command)
  if sub == "train":
    registry = GAN_METHODS if tool == "jaxgan" else RL_METHODS
    method = registry.get(argv[0])
    flags = run_cli.train_flags(method)
    assert not run_cli.unknown_flags(flags, argv[1:])
    run_cli.parse(f"{tool} train {argv[0]}", flags, argv[1:])
  else:
    spec = {("jaxgan", "sample"): gan_cli.SampleArgs, ("jaxgan", "eval"): gan_cli.EvalArgs,
            ("jaxrl", "eval"): rl_cli.EvalArgs, ("jaxrl", "bandit"): rl_cli.BanditArgs}[(tool, sub)]
    tyro.cli(spec, args=argv)


def test_top_level_help_lists_the_methods_and_commands(capsys):
  assert gan_cli.main(["--help"]) == 0
  out = capsys.readouterr().out
  for name in GAN_METHODS.names():
    assert f"  {name} " in out
  assert "sample" in out and "eval" in out
  assert rl_cli.main([]) == 2  # no command: the usage, and a failure status


def test_commands_keep_compiled_programs_in_the_user_cache_unless_the_user_chose(tmp_path, monkeypatch):
  """The command line points JAX's persistent compilation cache at the user cache, with a size
  limit; a cache directory the user set, or JAX_ENABLE_COMPILATION_CACHE, is left as it is."""
  import jax

  from jaxrun import files

  monkeypatch.setenv("JAXGAN_CACHE", str(tmp_path / "cache"))
  monkeypatch.delenv("JAX_ENABLE_COMPILATION_CACHE", raising=False)
  before = jax.config.jax_compilation_cache_dir, jax.config.jax_compilation_cache_max_size
  try:
    jax.config.update("jax_compilation_cache_dir", "/somewhere/the/user/chose")
    assert files.use_compilation_cache() is None
    assert jax.config.jax_compilation_cache_dir == "/somewhere/the/user/chose"
    jax.config.update("jax_compilation_cache_dir", None)
    monkeypatch.setenv("JAX_ENABLE_COMPILATION_CACHE", "false")
    assert files.use_compilation_cache() is None and jax.config.jax_compilation_cache_dir is None
    monkeypatch.delenv("JAX_ENABLE_COMPILATION_CACHE")
    path = files.use_compilation_cache()
    assert path == jax.config.jax_compilation_cache_dir
    assert os.path.dirname(path) == str(tmp_path / "cache") and os.path.basename(path).startswith("xla-")
    assert jax.config.jax_compilation_cache_max_size == files.COMPILATION_CACHE_BYTES
  finally:
    jax.config.update("jax_compilation_cache_dir", before[0])
    jax.config.update("jax_compilation_cache_max_size", before[1])


def test_deterministic_sets_xlas_flag_before_jax_starts_and_is_refused_after():
  """--deterministic (LoopConfig.deterministic; Run.new and Run.load apply it) reaches XLA only
  through XLA_FLAGS before a backend starts; afterwards it is refused with what to do."""
  import subprocess
  import sys

  code = ("import os\nos.environ.pop('XLA_FLAGS', None)\nfrom jaxrun import devices\n"
          "devices.deterministic_ops(True)\n"
          "assert os.environ['XLA_FLAGS'] == devices.DETERMINISTIC_OPS, os.environ['XLA_FLAGS']\n"
          "import jax\njax.devices()\nos.environ.pop('XLA_FLAGS')\n"
          "try:\n  devices.deterministic_ops(True)\nexcept RuntimeError as e:\n  print(e)\n")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "JAX_PLATFORMS": "cpu"})
  assert "--deterministic must be chosen before JAX starts" in out.stdout
  assert "XLA_FLAGS=--xla_gpu_deterministic_ops=true" in out.stdout


def test_a_cached_result_asked_for_twice_at_once_is_made_once(tmp_path, monkeypatch):
  """Two callers (threads here; processes hold the lock the same way) ask for one missing result
  of the user's cache together: the second waits for the first and reads what it wrote. A make()
  that asks for another cached result does not wait for itself; a result outside the user's cache
  (a run directory, guarded by its run's own lock) takes no lock."""
  import threading
  import time

  import numpy as np

  from jaxrun import files

  monkeypatch.setenv("JAXGAN_CACHE", str(tmp_path / "cache"))
  made, results = [], []

  def inner():
    return {"w": np.ones(2)}

  def make():
    made.append(1)
    time.sleep(0.5)  # the second caller arrives while this is being made
    files.cached_tree(files.user_cache("inner"), {"w": np.zeros(2)}, inner)
    return {"w": np.arange(3.0)}

  def ask():
    results.append(files.cached_tree(files.user_cache("tree"), {"w": np.zeros(3)}, make))

  callers = [threading.Thread(target=ask, daemon=True) for _ in range(2)]
  for c in callers:
    c.start()
  for c in callers:
    c.join(timeout=60)
  assert len(made) == 1 and len(results) == 2
  for r in results:
    np.testing.assert_array_equal(r["w"], np.arange(3.0))
  (tmp_path / "run").mkdir()
  files.cached_tree(str(tmp_path / "run" / "x"), {"w": np.zeros(2)}, inner)
  assert sorted(os.listdir(tmp_path / "run")) == ["x"]
