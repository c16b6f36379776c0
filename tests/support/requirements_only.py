"""A Python that can import only what ``requirements.txt`` installs (and the standard library).

The GitHub Action and the Azure Pipelines template install only ``requirements.txt`` before
they run the project's tools. Their tests run in a venv that sees the test session's
site-packages (offline, no download); :func:`install_guard` makes that venv refuse every
module a distribution outside the requirements' closure provides, so a tool that
imports a development-only package (pyyaml, jsonschema, pytest, azure-mgmt-core, …) fails
there exactly as it would on a runner.

* :func:`requirement_closure`: the distributions ``requirements.txt`` names, with their
  dependencies (markers and extras evaluated), as installed in this environment.
* :func:`blocked_modules`: the importable names only other distributions provide: top-level
  names, or ``namespace.package`` where a namespace (``azure``) is shared with allowed ones.
* :func:`install_guard`: writes a ``sys.meta_path`` finder into a venv's site-packages, loaded
  by a ``.pth`` file at start-up, that raises ``ModuleNotFoundError`` for those names.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

__all__ = ["requirement_closure", "blocked_modules", "install_guard", "PIP"]

#: What the runner's own Python brings besides the requirements: pip runs ``pip install -r``.
PIP = frozenset({"pip"})

_GUARD = '''"""Written by tests/support/requirements_only.py: only requirements.txt's modules may be imported."""
import sys

_BLOCKED = frozenset({blocked})


class _RequirementsOnly:
    @staticmethod
    def find_spec(name, path=None, target=None):
        parts = name.split(".")
        if parts[0] in _BLOCKED or ".".join(parts[:2]) in _BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not installed by requirements.txt)", name=name)
        return None


sys.meta_path.insert(0, _RequirementsOnly())
'''


def _requirements(path: Path) -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


def requirement_closure(path: Path) -> set[str]:
    """Canonical names of the distributions ``path`` installs, dependencies included."""
    seen: set[str] = set()
    todo = [(requirement, "") for requirement in _requirements(path)]
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({**default_environment(), "extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        extras = sorted(requirement.extras)
        key = f"{name}[{','.join(extras)}]"
        if key in seen:
            continue
        seen.add(key)
        try:
            dependencies = metadata.requires(requirement.name) or []
        except metadata.PackageNotFoundError:
            raise AssertionError(f"{requirement.name} (from {path.name}) is not installed in the test environment") from None
        for dependency in dependencies:
            parsed = Requirement(dependency)
            for wanted in ["", *extras]:
                todo.append((parsed, wanted))
    return {key.split("[", 1)[0] for key in seen}


def _module_names(distribution: metadata.Distribution) -> set[str]:
    """``top`` and ``top.sub`` names of the modules and packages a distribution's files hold."""
    names: set[str] = set()
    for file in distribution.files or ():
        parts = file.parts
        if not parts or ".." in parts or parts[0].endswith((".dist-info", ".egg-info", ".data", ".pth")) or parts[0] == "__pycache__":
            continue
        top = parts[0].split(".", 1)[0] if len(parts) == 1 else parts[0]
        if len(parts) == 1 and not parts[0].endswith((".py", ".so", ".pyd")):
            continue
        names.add(top)
        if len(parts) > 2 and parts[1] != "__pycache__":
            names.add(f"{top}.{parts[1]}")
        elif len(parts) == 2 and parts[1].endswith(".py") and parts[1] != "__init__.py":
            names.add(f"{top}.{parts[1][:-3]}")
    return names


def blocked_modules(allowed_distributions: set[str], also_allowed: frozenset[str] = PIP) -> set[str]:
    """Importable names provided only by distributions outside ``allowed_distributions``."""
    allowed: set[str] = set(also_allowed)
    other: set[str] = set()
    for distribution in metadata.distributions():
        name = canonicalize_name(distribution.metadata["Name"] or "")
        (allowed if name in allowed_distributions or name in also_allowed else other).update(_module_names(distribution))
    allowed_tops = {name.split(".", 1)[0] for name in allowed}
    blocked = {name for name in other if "." not in name and name not in allowed_tops}
    blocked |= {name for name in other if "." in name and name.split(".", 1)[0] in allowed_tops and name not in allowed}
    return blocked


def install_guard(purelib: Path, requirements: Path) -> set[str]:
    """Make the venv whose site-packages is ``purelib`` refuse modules ``requirements`` does not install; returns them."""
    blocked = blocked_modules(requirement_closure(requirements))
    (purelib / "lro_requirements_only.py").write_text(_GUARD.format(blocked=json.dumps(sorted(blocked))), encoding="utf-8")
    (purelib / "lro-requirements-only.pth").write_text("import lro_requirements_only\n", encoding="utf-8")
    return blocked
