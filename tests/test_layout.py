"""The package as users install it: one `lineage` namespace, packages in layers, modules of readable size."""

import subprocess
import sys
import zipfile
from pathlib import Path

import isolated
import tomllib

ROOT = Path(__file__).resolve().parents[1]
graph = isolated.load_by_path("lineage_import_graph", ROOT / "scripts" / "import_graph.py")
# transformers' style: a model reads top to bottom in one file.
LONG_ON_PURPOSE = {ROOT / "models" / "recurrent" / "modeling_recurrent.py"}


def test_lineage_imports_from_a_folder_with_its_own_models_and_pipelines(tmp_path):
    """Most ML projects have a models/ package; Lineage's used to be shadowed by it (ImportError on build_model)."""
    for package in ("models", "pipelines"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(f'"""The user\'s own {package}."""\nOWNER = "user"\n')
    code = ("import models, pipelines\n"
            "from lineage.models import build_model\n"
            "from lineage.training import TrainConfig, train\n"
            "from lineage.comparison import CompareConfig, compare\n"
            "print(models.OWNER, pipelines.OWNER, build_model.__module__)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["user", "user", "lineage.models"]


def test_the_wheel_holds_only_the_lineage_namespace(tmp_path):
    """`pip install .` puts one import package in site-packages, with the model code, card template and metrics."""
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                           str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("lineage-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"lineage", wheel.name.split("-py3")[0] + ".dist-info"}
    for part in ("lineage/models/recurrent/modeling_recurrent.py", "lineage/model_cards/template.md",
                 "lineage/evaluation/metrics/lineage_bleu.py", "lineage/training/loop.py", "lineage/cli.py"):
        assert part in names, part
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "lineage = lineage.cli:main" in entry_points


def test_every_package_folder_is_installed():
    """pyproject.toml lists the packages by hand (two folders map into one namespace): none may be missing."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(("lineage", *init.parent.relative_to(ROOT / "pipelines").parts)).rstrip(".")
               for init in (ROOT / "pipelines").rglob("__init__.py")}
    on_disk |= {".".join(("lineage", *init.parent.relative_to(ROOT).parts)) for init in (ROOT / "models").rglob("__init__.py")}
    on_disk.add("lineage.model_cards")
    assert listed == on_disk


def test_no_module_is_over_500_lines():
    long = {path.relative_to(ROOT).as_posix(): len(path.read_text().splitlines())
            for folder in ("pipelines", "models", "benchmarks", "scripts") for path in (ROOT / folder).rglob("*.py")
            if path not in LONG_ON_PURPOSE and len(path.read_text().splitlines()) > 500}
    assert long == {}


def test_no_package_imports_one_above_it():
    edges = graph.edges()
    assert ("training", "data") in edges and ("study", "report") in edges  # the graph sees real imports
    assert graph.violations(edges) == []


def test_the_layer_rule_catches_an_upward_import_and_an_unplaced_package():
    assert graph.violations({("report", "study"): {"lineage.report.curves"}}) == [
        "report -> study points up (lineage.report.curves)"]
    assert graph.violations({("newpackage", "data"): {"lineage.newpackage.x"}}) == [
        "newpackage: in no layer of scripts/import_graph.py"]
