"""The direction of the imports: methods import the run layer, the run layer imports no method,
dataset or environment, jaxrl imports no GAN, and no module imports another in a circle."""

import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("jaxrun", "jaxgan", "jaxrl")


def _loaded_after(code: str) -> set[str]:
  out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
                       capture_output=True, text=True, check=True, cwd=ROOT,
                       env={**os.environ, "JAX_PLATFORMS": "cpu"})
  return set(out.stdout.split())


def test_the_run_layer_loads_no_method_dataset_or_environment():
  loaded = _loaded_after("import jaxrun, jaxrun.run, jaxrun.loop, jaxrun.cli, jaxrun.checkpoints, "
                         "jaxrun.events, jaxrun.files, jaxrun.plots, jaxrun.conv, jaxrun.keys, "
                         "jaxrun.aggregate")
  assert not {m for m in loaded if m.split(".")[0] in ("jaxgan", "jaxrl", "gymnax", "envpool",
                                                       "tensorflow_datasets", "sklearn")}


def test_jaxrl_loads_no_gan_module():
  loaded = _loaded_after("import jaxrl, jaxrl.cli, jaxrl.methods, jaxrl.dqn.program")
  assert not {m for m in loaded if m.startswith("jaxgan")}


HEAVY = ("jax", "flax", "optax", "tensorflow", "tensorflow_datasets", "matplotlib", "PIL", "sklearn",
         "gymnax", "envpool", "grain", "dm_pix", "tensorboardX", "orbax", "rliable", "arch")


@pytest.mark.parametrize("tool", ["jaxrl", "jaxgan"])
def test_the_top_level_help_loads_no_library_the_answer_does_not_need(tool):
  """``jaxrl --help`` and ``jaxgan --help`` answer from the registry: no JAX, no dataset, no plot
  (JAX alone took 2 s to import here)."""
  loaded = _loaded_after(f"import {tool}, {tool}.cli\nimport contextlib, io\n"
                         f"with contextlib.redirect_stdout(io.StringIO()): {tool}.cli.main(['--help'])")
  assert not {m for m in loaded if m.split(".")[0] in HEAVY}


def test_dqn_loads_no_plotting_dataset_or_image_library_until_used():
  loaded = _loaded_after("import jaxrl.dqn.program")
  assert not {m for m in loaded if m.split(".")[0] in (
      "jaxgan", "matplotlib", "PIL", "tensorflow", "tensorflow_datasets", "sklearn", "grain",
      "tensorboardX", "envpool", "rliable", "arch")}


def test_gymnax_environments_load_no_plotting_statistics_until_used():
  """gymnax imports seaborn (pandas, scipy.stats) for renderers jaxrl never calls: it is deferred
  to its first use, where it works as imported."""
  loaded = _loaded_after("import sys\nfrom jaxrl import envs\nenvs.make('CartPole-v1')\n"
                         "import seaborn\nassert 'pandas' not in sys.modules\n"
                         "assert seaborn.color_palette('deep')[0]\n"
                         "from gymnax.environments.misc import pong\n"
                         "assert pong.sns.color_palette is seaborn.color_palette")
  assert "pandas" in loaded  # by the first use, not before it (asserted inside)


def _modules() -> dict[str, str]:
  found = {}
  for package in PACKAGES:
    for root, _, names in os.walk(os.path.join(ROOT, package)):
      for n in names:
        if n.endswith(".py"):
          path = os.path.join(root, n)
          name = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
          found[name.removesuffix(".__init__")] = path
  return found


def _imports(path: str, name: str, modules) -> set[str]:
  """The project modules ``path`` imports anywhere in it (functions included)."""
  tree = ast.parse(open(path).read())
  package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
  out = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      out |= {a.name for a in node.names}
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + [base]).strip(".")
      out |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
  return {m for m in out if m in modules and m != name}


def test_no_module_imports_another_in_a_circle():
  modules = _modules()
  graph = {m: _imports(p, m, modules) for m, p in modules.items()}
  # A package's __init__ re-exporting its own modules is not a circle of the code.
  graph = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}
  state, cycles = {}, []

  def visit(m, path):
    state[m] = "open"
    for d in sorted(graph[m]):
      if state.get(d) == "open":
        cycles.append(path[path.index(d):] + [d])
      elif d not in state:
        visit(d, path + [d])
    state[m] = "done"

  for m in sorted(graph):
    if m not in state:
      visit(m, [m])
  assert not cycles, cycles


@pytest.mark.parametrize("package", ["jaxrun"])
def test_the_run_layer_imports_no_method(package):
  modules = _modules()
  for name, path in modules.items():
    if name.split(".")[0] == package:
      assert not {m for m in _imports(path, name, modules) if m.split(".")[0] != package}, name


def test_no_module_is_over_400_lines():
  long = {m: n for m, p in _modules().items() if (n := len(open(p).read().splitlines())) > 400}
  assert not long, long
