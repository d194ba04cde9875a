"""Test helpers: run code the way a Hub user would, in a fresh Python process,
offline, where the Lineage project cannot be imported; and load helper files
by path.

Imported by the tests as `import isolated`: tests/ is not a package, so
pytest's default import mode (prepend) puts tests/ itself on sys.path. Not a
test module: pytest collects nothing here.
"""

import ast
import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

CHECK_FOLDERS = Path(__file__).resolve().parent / "compat" / "check_folders.py"


def load_by_path(name, path):
    """Import the helper file `path` as module `name`, once per session.

    For helpers outside sys.path (tests/compat/) or test files reused by
    another test file; a second call returns the module the first one made.
    """
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def clean_env(**overrides):
    """The environment for a fresh Python process: this one's, without any
    PYTHON* variable, with the user site off, the Hub offline and (unless set
    already) one OpenMP thread, which is fastest for tiny models; `overrides`
    are applied last.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env.update(PYTHONNOUSERSITE="1", HF_HUB_OFFLINE="1")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(overrides)
    return env


def isolated_python_command(script, *args, **env_overrides):
    """Run `script` with this interpreter but without the project on sys.path.

    Returns (command, env) for subprocess.run; `env_overrides` go into
    `clean_env`. The editable install puts the project on sys.path through a
    .pth file and an import hook in site-packages. `-S` skips site (and so
    every .pth file); PYTHONPATH then gives back only the site-packages
    directories themselves (with no .pth processing), so torch and
    transformers import while `lineage` does not.
    tests/test_pipeline.py checks that this is so.
    """
    site_dirs = [entry for entry in sys.path if Path(entry).name in ("site-packages", "dist-packages")]
    site_dirs = list(dict.fromkeys(site_dirs + [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]))
    env = clean_env(PYTHONPATH=os.pathsep.join(site_dirs), **env_overrides)
    return [sys.executable, "-S", "-s", str(script), *map(str, args)], env


def run_check_folders(spec_path, work, python=None, timeout=600, **env_overrides):
    """Run compat/check_folders.py on the folders `spec_path` lists, as a Hub
    user would, and return its results.

    The script is copied into the empty folder `work` and runs there, offline,
    with a fresh HF_HOME in `work` (so a fresh trust_remote_code module cache).
    With `python` None it runs under this interpreter without the project on
    sys.path (`isolated_python_command`); else under that interpreter, whose
    environment must not hold the project either. check_folders.py records
    whether the project can be imported, for the tests to assert.
    """
    work = Path(work)
    script = work / "check_folders.py"
    script.write_bytes(CHECK_FOLDERS.read_bytes())
    result_path = work / "result.json"
    env_overrides.setdefault("HF_HOME", str(work / "hf-home"))
    if python is None:
        command, env = isolated_python_command(script, spec_path, result_path, **env_overrides)
    else:
        command, env = [str(python), str(script), str(spec_path), str(result_path)], clean_env(**env_overrides)
    done = subprocess.run(command, cwd=work, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stderr[-5000:]
    return json.loads(result_path.read_text())


def third_party_imports(path) -> set[str]:
    """The top-level packages a file imports, less the standard library; asserts it has no relative
    import (a file that travels alone, to the Hub or into a Space, takes none of its neighbours)."""
    imported = set()
    for node in ast.walk(ast.parse(Path(path).read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative imports do not travel with the file"
            imported.add(node.module.split(".")[0])
    return imported - set(sys.stdlib_module_names)
