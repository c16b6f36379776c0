"""The soak's output audit: no secret in any output, and every JSON output strict.

Pure. :func:`audit` takes the secrets of a run and every output the watcher made — results,
poison entries, the Event Grid events and the Azure DevOps posts the simulator received, and the
workers' log files (one ``(name, text)`` each) — and returns:

* ``secretsFound`` and ``secretExamples``: each output (a log *line*) holding a secret, named by
  where it is (``worker-0.1.log:57``, ``result 12 (op-000042)``, ``Event Grid event <id>``), which
  secret (``bearer token (https://management.azure.com)``, ``Event Grid key``, ``callback authToken``,
  ``SAS signature``, ``resource body secret``, ``identity header``) and in which form. The forms
  looked for: as issued, URL-encoded, base64 (standard and URL-safe), a JWT's payload-and-signature
  and signature alone, and the first 16 characters (contract §3: "a prefix of at least 16
  characters"). The excerpt shown has the secret replaced by ``«secret»``.
* ``notStrictJson`` and ``notStrictExamples``: a result or poison entry the watcher wrote that a
  strict parser refuses (``NaN``, ``Infinity``, a number beyond a double, nesting deeper than
  :data:`MAX_DEPTH`), and every Event Grid publish the simulator refused as not valid JSON.

A poison entry that is exactly a planned request's text (the host moved the producer's own message)
is the producer's JSON, not the watcher's: it is not held to strictness (the judge counts it wrong).
"""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from tools.dev.sim.hostile import strict_loads

__all__ = ["Secret", "audit", "forms", "scrub", "MAX_DEPTH", "PREFIX_CHARS"]

#: serde_json's default recursion limit: a consumer in Rust refuses anything deeper.
MAX_DEPTH = 128
#: Contract §3: a prefix of at least this many characters is the secret too.
PREFIX_CHARS = 16
MAX_EXAMPLES = 20
_EXCERPT_CHARS = 60
_AFTER_MARK = re.compile(r"«secret»[A-Za-z0-9+/=%._-]*")
_CORRELATION = re.compile(r'"correlationId"\s*:\s*"([^"]{1,64})"')


@dataclass(frozen=True)
class Secret:
    """One value no output may hold, and what it is (for the finding's text)."""

    kind: str
    value: str


def forms(secret: str) -> dict[str, str]:
    """The forms of ``secret`` the audit looks for, by name (the prefix last: the weakest)."""
    out = {"as issued": secret, "URL-encoded": quote(secret, safe=""),
           "base64": base64.b64encode(secret.encode()).decode(), "base64url": base64.urlsafe_b64encode(secret.encode()).decode()}
    parts = secret.split(".")
    if len(parts) == 3 and all(len(p) >= PREFIX_CHARS for p in parts):  # a JWT: a tail cut off "Bearer eyJ..." is one too
        out["JWT payload and signature"] = f"{parts[1]}.{parts[2]}"
        out["JWT signature"] = parts[2]
    out[f"first {PREFIX_CHARS} characters"] = secret[:PREFIX_CHARS]
    return out


class _Needles:
    """Every form of every secret, grouped by its first 16 characters: few groups, one ``in`` each per text."""

    def __init__(self, secrets: Iterable[Secret]) -> None:
        self.groups: dict[str, list[tuple[str, Secret, str]]] = {}
        for secret in secrets:
            if len(secret.value) < 8:
                continue  # too short to mean anything (and would match everywhere)
            for form, needle in forms(secret.value).items():
                self.groups.setdefault(needle[:PREFIX_CHARS], []).append((needle, secret, form))
        for group in self.groups.values():
            group.sort(key=lambda item: -len(item[0]))  # the most specific form first

    def find(self, text: str) -> tuple[str, Secret, str] | None:
        for head, group in self.groups.items():
            if head in text:
                return next((item for item in group if item[0] in text), None)
        return None


def scrub(text: str, secrets: Iterable[Secret]) -> str:
    """``text`` with every form of every secret replaced by ``«secret»`` (the report shows where, never what)."""
    needles = sorted({n for group in _Needles(secrets).groups.values() for n, _, _ in group}, key=len, reverse=True)
    for needle in needles:
        text = text.replace(needle, "«secret»")
    return _AFTER_MARK.sub("«secret»", text)  # and the rest of a secret whose prefix only was found


def _excerpt(text: str, needle: str) -> str:
    at = text.find(needle)
    piece = text[max(0, at - _EXCERPT_CHARS): at + len(needle) + _EXCERPT_CHARS]
    return _AFTER_MARK.sub("«secret»", piece.replace(needle, "«secret»"))


def _depth(value: Any) -> int:
    depth, level = 0, [value]
    while level:
        depth += 1
        level = [v for item in level if isinstance(item, (dict, list))
                 for v in (item.values() if isinstance(item, dict) else item)]
    return depth - 1


def _strict_problem(text: str) -> str | None:
    try:
        value = strict_loads(text)
    except ValueError as exc:
        return str(exc)[:120]
    depth = _depth(value)
    return f"nested {depth} levels (a strict consumer stops at {MAX_DEPTH})" if depth > MAX_DEPTH else None


def _outputs(results: Sequence[str], poison: Sequence[str], events: Sequence[dict[str, Any]],
             azdo: Sequence[dict[str, Any]]) -> Iterable[tuple[str, str, str]]:
    """``(group, where, text)`` of every output but the logs."""
    for n, text in enumerate(results):
        match = _CORRELATION.search(text[:4096])
        yield "results", f"result {n}" + (f" ({match.group(1)})" if match else ""), text
    for n, text in enumerate(poison):
        yield "poison", f"poison entry {n}", text
    for event in events:
        yield "events", f"Event Grid event {event.get('id')}", json.dumps(event)
    for record in azdo:
        yield "azureDevOps", f"Azure DevOps {record.get('kind')} for plan {record.get('planId')}", json.dumps(record)


def audit(secrets: Iterable[Secret], *, results: Sequence[str], poison: Sequence[str],
          events: Sequence[dict[str, Any]] = (), azdo: Sequence[dict[str, Any]] = (), logs: Sequence[tuple[str, str]] = (),
          producer_texts: Iterable[str] = (), eventgrid_refused: int = 0) -> dict[str, Any]:
    """Secrets and strictness of every output (see the module docstring)."""
    needles = _Needles(secrets)
    found: list[dict[str, str]] = []
    by_group: Counter[str] = Counter()

    def check(group: str, where: str, text: str) -> None:
        hit = needles.find(text)
        if hit is not None:
            needle, secret, form = hit
            by_group[group] += 1
            found.append({"where": where, "secret": secret.kind, "form": form, "excerpt": _excerpt(text, needle)})

    for group, where, text in _outputs(results, poison, events, azdo):
        check(group, where, text)
    for name, text in logs:
        if any(head in text for head in needles.groups):
            for number, line in enumerate(text.splitlines(), 1):
                check("logs", f"{name}:{number}", line)

    producers = set(producer_texts)
    strict: list[dict[str, str]] = []
    for group, texts in (("result", results), ("poison entry", poison)):
        for n, text in enumerate(texts):
            problem = None if text in producers else _strict_problem(text)
            if problem:
                strict.append({"where": f"{group} {n}", "why": problem, "text": text[:160]})
    if eventgrid_refused:
        strict.append({"where": "Event Grid", "why": f"{eventgrid_refused} publishes refused as invalid JSON", "text": ""})
    return {
        "secretsFound": len(found),
        "secretsByOutput": dict(sorted(by_group.items())),
        "secretExamples": found[:MAX_EXAMPLES],
        "notStrictJson": len(strict) - (1 if eventgrid_refused else 0) + eventgrid_refused,
        "notStrictExamples": strict[:MAX_EXAMPLES],
    }
