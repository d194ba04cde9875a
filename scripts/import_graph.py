"""The package import graph of Lineage, read from the source with `ast`, and the rule it must follow.

    python scripts/import_graph.py            # the edges between packages, and any that break the rule

A package may import only packages below it in `LAYERS` (or itself): nothing lower imports
anything higher, so there is no cycle between packages. Every import counts, those inside
functions too. Exit status 1 when an edge breaks the rule.
"""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The folders setuptools maps into the `lineage` namespace (pyproject.toml).
FOLDERS = {"lineage": ROOT / "pipelines", "lineage.models": ROOT / "models"}
# Lowest first; one layer may hold several packages that import none of each other.
LAYERS = (
    ("models",),
    ("errors",),  # below files: a failed write is a one-line error (files.WriteFailed)
    ("files", "configs", "environment", "app"),
    ("data",),
    ("evaluation",),
    ("training",),
    ("report",),
    ("speed",),
    ("hub",),
    ("comparison",),
    ("study",),
    ("cli",),
)
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}


def modules() -> dict[str, Path]:
    """Every module of the namespace: dotted name -> file."""
    found = {}
    for prefix, folder in FOLDERS.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            name = ".".join((prefix, *parts)).removesuffix(".__init__")
            found.setdefault(name, path)
    return found


def package_of(module: str) -> str:
    """The first level below `lineage`: "lineage.training.loop" -> "training"."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "lineage"


def imported(module: str, path: Path) -> set[str]:
    """The `lineage` modules `module` imports, at any depth of its code."""
    is_package = path.name == "__init__.py"
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + is_package]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names.add(target)
            names |= {f"{target}.{alias.name}" for alias in node.names}
    return {name for name in names if name == "lineage" or name.startswith("lineage.")}


def edges() -> dict[tuple[str, str], set[str]]:
    """(importing package, imported package) -> the importing modules, between different packages."""
    known = modules()
    found = {}
    for module, path in known.items():
        for target in imported(module, path):
            if target not in known:
                continue  # a name imported from a module, not a module
            pair = (package_of(module), package_of(target))
            if pair[0] != pair[1] and pair[1] != "lineage":
                found.setdefault(pair, set()).add(module)
    return found


def violations(graph: dict[tuple[str, str], set[str]]) -> list[str]:
    """The edges that point up (or sideways within a layer), and packages no layer names."""
    problems = []
    for (source, target), importers in sorted(graph.items()):
        unknown = [package for package in (source, target) if package not in RANK]
        if unknown:
            problems.append(f"{', '.join(unknown)}: in no layer of scripts/import_graph.py")
        elif RANK[target] >= RANK[source]:
            problems.append(f"{source} -> {target} points up ({', '.join(sorted(importers))})")
    return problems


def main() -> int:
    graph = edges()
    for (source, target), importers in sorted(graph.items(), key=lambda item: (RANK.get(item[0][0], 99), item[0])):
        print(f"{source:>11} -> {target:<11} ({len(importers)} module{'s' * (len(importers) != 1)})")
    problems = violations(graph)
    print("\n".join(["", *problems]) if problems else "\nno package imports one above it: no cycles")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
