"""pyproject.toml and environment.yml ask for the same packages with the same lower bounds."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[1]
# conda-forge names that differ from PyPI's.
CONDA_TO_PYPI = {"redis-py": "redis"}
NOT_PYTHON_PACKAGES = {"python", "pip", "make"}


def _parse(spec: str) -> tuple[str, str]:
    match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]+\])?\s*(>=\s*[\w.]+)?", spec.strip())
    assert match, f"cannot read requirement {spec!r}"
    name = CONDA_TO_PYPI.get(match.group(1).lower(), match.group(1).lower()).replace("_", "-")
    return name, (match.group(2) or "").replace(" ", "")


def test_conda_and_pip_agree():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_side = dict(_parse(s) for s in project["dependencies"] + project["optional-dependencies"]["dev"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_side: dict[str, str] = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            conda_side.update(_parse(s) for s in dep["pip"] if not s.startswith("-e"))
        else:
            name, bound = _parse(dep)
            if name not in NOT_PYTHON_PACKAGES:
                conda_side[name] = bound
    assert conda_side == pip_side
    assert any(isinstance(d, dict) and "-e .[dev]" in d["pip"] for d in env["dependencies"])


def test_every_dependency_has_a_lower_bound_and_a_reason():
    text = (ROOT / "pyproject.toml").read_text()
    block = text.split("dependencies = [", 1)[1].split("]\n", 1)[0]
    for line in filter(str.strip, block.splitlines()):
        assert ">=" in line and "#" in line, f"pin a lower bound and say why: {line.strip()}"
