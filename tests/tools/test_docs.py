"""The docs keep working: every relative link in README.md and docs/*.md resolves (the file, and
its ``#anchor`` by GitHub's heading slugs), and every ``python -m`` command and ``make`` target
they document exists.

No process is started: a module is found with :func:`importlib.util.find_spec` (a package must
have a ``__main__``), a make target in the Makefile's text. The recipe test
(``tests/e2e/test_local_stack_recipe.py``) runs the local-stack commands for real.
"""

from __future__ import annotations

import importlib.util
import re
import unicodedata
from functools import cache
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DOCS = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(`{3,}|~{3,})")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
_HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")
#: A module name cut short by a placeholder (``tools.NAME``, ``tools.…``) is not a command.
_PYTHON_M = re.compile(r"python3?\s+-m\s+([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)(?![\w.…])")
#: A command line that starts with make (in a code block, or inline code such as `make soak OPS=10000`).
_MAKE = re.compile(r"^\s*(?:\$\s+)?make\s+([a-z][\w-]*)")


def _prose_and_code(text: str) -> tuple[list[str], list[str]]:
    """The lines outside fenced code blocks, and those inside them."""
    prose: list[str] = []
    code: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        match = _FENCE.match(line.lstrip())
        if match and (fence is None or match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence)):
            fence = match.group(1) if fence is None else None
            continue
        (code if fence else prose).append(line)
    return prose, code


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading's text (github-slugger): the rendered text, lower-cased, every
    character but letters, digits, ``_``, ``-`` and spaces dropped, spaces made hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
    kept = "".join(ch for ch in text.lower() if ch in "_- " or unicodedata.category(ch)[0] in "LNM")
    return kept.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every anchor of a Markdown file: its headings' slugs (a repeated one gets -1, -2, ...) and HTML anchors."""
    prose, _ = _prose_and_code(path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    found: set[str] = set()
    for line in prose:
        found.update(_HTML_ANCHOR.findall(line))
        match = _HEADING.match(line)
        if not match:
            continue
        slug = github_slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return frozenset(found)


def relative_links(path: Path) -> list[str]:
    """The link targets of ``path`` that point into the repository (not in code, not a URL)."""
    prose, _ = _prose_and_code(path.read_text(encoding="utf-8"))
    targets: list[str] = []
    for line in prose:
        for target in _LINK.findall(_INLINE_CODE.sub("", line)):
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
                targets.append(target)
    return targets


def broken_link(source: Path, target: str) -> str | None:
    """Why ``target`` (as written in ``source``) does not resolve, or None."""
    file_part, _, anchor = target.partition("#")
    resolved = (source.parent / file_part).resolve() if file_part else source
    if not resolved.exists():
        return f"{target}: {resolved.relative_to(PROJECT_ROOT) if resolved.is_relative_to(PROJECT_ROOT) else resolved} does not exist"
    if not resolved.is_relative_to(PROJECT_ROOT):
        return f"{target}: points outside the repository"
    if anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
        return f"{target}: no heading of {resolved.relative_to(PROJECT_ROOT)} has the anchor #{anchor}"
    return None


def documented_modules() -> dict[str, set[str]]:
    """``python -m`` module -> the docs naming it (in prose, inline code or code blocks)."""
    found: dict[str, set[str]] = {}
    for path in DOCS:
        for module in _PYTHON_M.findall(path.read_text(encoding="utf-8")):
            found.setdefault(module, set()).add(path.name)
    return found


def documented_make_targets() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in DOCS:
        prose, code = _prose_and_code(path.read_text(encoding="utf-8"))
        inline = [m for line in prose for m in _INLINE_CODE.findall(line)]
        for text in [*code, *(code_text for _, code_text in inline)]:
            for target in _MAKE.findall(text):
                found.setdefault(target, set()).add(path.name)
    return found


def test_github_slugs_follow_githubs_rules() -> None:
    assert github_slug("ARM's read budget") == "arms-read-budget"
    assert github_slug("Private networking (`vnetEnabled`)") == "private-networking-vnetenabled"
    assert github_slug("Duplicates: drop them by `eventId`") == "duplicates-drop-them-by-eventid"
    assert github_slug("The local stack, step by step") == "the-local-stack-step-by-step"
    assert github_slug("P1 ≥ 0.75 — `poll_url`") == "p1--075--poll_url"


def test_a_broken_link_and_a_missing_anchor_are_reported(tmp_path: Path) -> None:
    page = PROJECT_ROOT / "docs" / "request.md"
    assert broken_link(page, "result.md") is None
    assert broken_link(page, "no-such-page.md") is not None
    assert "no heading" in (broken_link(page, "result.md#no-such-heading") or "")
    assert broken_link(page, "#" + next(iter(anchors(page)))) is None


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_every_relative_link_resolves(path: Path) -> None:
    problems = [problem for target in relative_links(path) if (problem := broken_link(path, target))]
    assert not problems, f"{path.relative_to(PROJECT_ROOT)}: " + "; ".join(problems)


def test_the_readme_is_a_front_page_that_links_every_doc() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 320, "README.md is the front page (about 300 lines): move the reference to docs/"
    linked = {(PROJECT_ROOT / target.partition("#")[0]).resolve() for target in relative_links(PROJECT_ROOT / "README.md")}
    unlinked = [p.name for p in DOCS[1:] if p.resolve() not in linked]
    assert not unlinked, f"docs not linked from the README: {unlinked}"


def test_every_documented_python_m_command_exists() -> None:
    documented = documented_modules()
    assert "tools.run_local" in documented and "tools.enqueue" in documented  # the scan finds commands at all
    missing = []
    for module, pages in sorted(documented.items()):
        if not module.startswith("tools"):
            continue  # pip, venv, pytest...: not the project's
        spec = importlib.util.find_spec(module)
        runnable = spec is not None and (spec.submodule_search_locations is None or importlib.util.find_spec(f"{module}.__main__"))
        if not runnable:
            missing.append(f"python -m {module} ({', '.join(sorted(pages))})")
    assert not missing, "documented but not runnable: " + "; ".join(missing)


def test_every_documented_make_target_exists() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][\w-]*)\s*:(?!=)", makefile, re.MULTILINE))
    documented = documented_make_targets()
    assert "test" in documented
    missing = [f"make {t} ({', '.join(sorted(pages))})" for t, pages in sorted(documented.items()) if t not in targets]
    assert not missing, "documented but not in the Makefile: " + "; ".join(missing)


def test_the_architecture_page_lists_every_module_of_shared() -> None:
    """docs/architecture.md's tree names each module under shared/ in its own folder (a new module is described)."""
    page = (PROJECT_ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    tree = page[page.index("```\nfunction_app.py"):]
    tree = tree[: tree.index("\n```", 4)]
    folder, listed = "", set()
    for line in tree.splitlines():
        name = line.split()[0] if line.strip() else ""
        if name.endswith("/"):
            folder = name if line.startswith("  ") else ""
        elif name.endswith(".py") and line.startswith(("  ", "    ")):
            listed.add(f"shared/{folder}{name}" if line.startswith("    ") else f"shared/{name}")
    modules = {p.relative_to(PROJECT_ROOT).as_posix() for p in (PROJECT_ROOT / "shared").rglob("*.py") if "__pycache__" not in p.parts}
    modules -= {"shared/core/__init__.py", "shared/edges/__init__.py"}
    assert modules - listed == set(), "modules docs/architecture.md does not list"
