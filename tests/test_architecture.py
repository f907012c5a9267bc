"""The layers of docs/architecture.md, checked on the import graph and the signatures.

Data flows one way: notebooks and the CLI call the classroom (`lab`) and the API; those call the
topics (reference code); topics call the backends and the kernel. These tests read every module's
imports (including those inside functions) and fail on an arrow that goes the other way.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "course_lib"
KERNEL = {"failpoints", "logs", "clock", "messages"}
TOPICS = {"idempotency", "orders", "retries", "events", "s3", "auth", "sqlperf", "ui"}
LAYER_OF = {**dict.fromkeys(KERNEL, "kernel"), **dict.fromkeys(TOPICS, "topic"),
            "backends": "backends", "lab": "lab", "api": "api", "hub": "hub", "cli": "cli", "__init__": "root"}
# What each layer may import from course_lib.
ALLOWED = {
    "kernel": {"kernel"},
    "backends": {"backends", "kernel"},
    "topic": {"topic", "backends", "kernel"},
    "api": {"api", "topic", "backends", "kernel"},
    "hub": {"hub", "backends", "kernel"},
    "lab": {"lab", "api", "hub", "topic", "backends", "kernel"},
    "cli": {"cli", "lab", "api", "hub", "topic", "backends", "kernel"},
    "root": {"lab", "backends"},
}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _layer(module: str) -> str:
    """course_lib.x.y -> the layer of x."""
    parts = module.split(".")
    return LAYER_OF[parts[1] if len(parts) > 1 else "__init__"]


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    return ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


def _imports(path: Path) -> set[str]:
    """Every course_lib module this file imports, wherever the import statement stands."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("course_lib"):
            found.update(f"{node.module}.{a.name}" if node.module == "course_lib" else node.module for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; write `from course_lib.... import` so layers read plainly")
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("course_lib"))
    return found


def test_every_top_level_name_has_a_layer():
    names = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))}
    assert names <= set(LAYER_OF), f"give {sorted(names - set(LAYER_OF))} a layer in docs/architecture.md and here"


def test_at_most_four_kernel_modules_at_the_top():
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "cli"))
    assert len(top) <= 4, top


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_layers(path: Path):
    here = _module_name(path)
    layer = _layer(here)
    wrong = sorted(m for m in _imports(path) if _layer(m) not in ALLOWED[layer] | {layer})
    assert not wrong, f"{here} ({layer}) must not import {wrong}: see docs/architecture.md, 'Layers'"


def test_no_reference_signature_takes_a_fault():
    """Faults are armed from outside through failpoints; reference code keeps production signatures."""
    offenders = []
    for path in _modules():
        if _layer(_module_name(path)) not in ("topic", "api", "backends", "kernel"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                args = node.args.args + node.args.kwonlyargs + node.args.posonlyargs
                offenders += [f"{path.name}:{node.name}({a.arg})" for a in args
                              if a.arg.startswith("crash") or a.arg == "decide"]
    assert not offenders


DOC_REFERENCE = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.md)\b")


def _texts() -> list[Path]:
    files = [*PACKAGE.rglob("*.py"), *(ROOT / "tests").glob("*.py"), *(ROOT / "notebooks").glob("*.ipynb"),
             *(ROOT / "docs").glob("*.md"), ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "Makefile",
             ROOT / ".ci" / "run", ROOT / "pyproject.toml"]
    return [f for f in files if f.exists()]


def test_every_document_the_project_refers_to_is_in_the_repository():
    missing = set()
    for path in _texts():
        for name in DOC_REFERENCE.findall(path.read_text()):
            if not any((base / name).exists() for base in (ROOT, path.parent, ROOT / "docs")):
                missing.add(f"{path.relative_to(ROOT)} -> {name}")
    assert not missing, sorted(missing)
