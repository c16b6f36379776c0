"""The one redaction function: every output (results, events, poison entries, log lines) goes through it.

Contract §3: a secret is replaced by ``[redacted]`` wherever it shows, in any encoding the
watcher can recognise. Two kinds of secret:

* **held** secrets, the ones this process has (bearer tokens, the Event Grid key, a callback's
  ``authToken``): found as sent, URL-encoded (``quote``, ``quote_plus``, lower-case hex too),
  base64 of ``":" + secret`` (Azure DevOps' Basic credential) and of the secret, and as any
  prefix of at least :data:`MIN_PREFIX_CHARS` characters of each of those (a cut message, a key
  missing its last character). A secret shorter than :data:`MIN_SECRET_CHARS` is not searched for;
* **shapes**, whoever's they are: an ``Authorization``/``aeg-sas-key`` header value, ``Bearer <token>``,
  ``Basic <credential>``, a JWT (three base64url parts, the header starting ``eyJ``), a ``sig=``
  value (SAS), a connection string's ``AccountKey=``, a JSON ``access_token``.

:class:`Redactor` is immutable and compiled once: building one is the cost of a change of secrets
(the holder, :mod:`shared.edges.secrets`, rebuilds it only then), :meth:`Redactor.text` is a
regex search or two per call. Pure: no IO, no clock.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, TypeAlias
from urllib.parse import quote, quote_plus

#: What :meth:`Redactor.json` walks: a parsed JSON value.
JsonValue: TypeAlias = "dict[str, JsonValue] | list[JsonValue] | str | int | float | bool | None"

__all__ = ["REDACTED", "MIN_PREFIX_CHARS", "MIN_SECRET_CHARS", "Redactor", "encodings", "redact", "without_query", "SHAPES_ONLY"]

REDACTED = "[redacted]"
#: A prefix this long of a held secret (in any of its encodings) is redacted too.
MIN_PREFIX_CHARS = 16
#: Shorter values are not searched for: no real key or token is so short, and every "a" would go.
MIN_SECRET_CHARS = 8

_TOKEN68 = r"[A-Za-z0-9\-._~+/]"
_SHAPES = re.compile(
    rf"""
    (?P<header>\b(?i:authorization|aeg-sas-key|aeg-sas-token|x-identity-header|ocp-apim-subscription-key)
        ["']?\s*[:=]\s*["']?)
        (?P<header_value>(?i:(?:bearer|basic|sharedaccesssignature)\s+)?[^\s"',;}}]{{16,}})
    | (?P<scheme>\b(?i:bearer|basic)\s+)(?![a-z_]+=)(?P<credential>{_TOKEN68}{{16,}}=*)
    | (?P<jwt>\beyJ[A-Za-z0-9_-]{{2,}}\.[A-Za-z0-9_-]{{2,}}\.[A-Za-z0-9_-]*)
    | (?P<sig>\b(?i:sig)(?:=|%3[dD]))(?P<sig_value>[^&\s"'<>#]+)
    | (?P<key>\b(?i:AccountKey|SharedAccessKey|SharedAccessSignature|ClientSecret|Password)=)(?P<key_value>[^;\s'"]+)
    | (?P<field>"?(?i:access_token|refresh_token|id_token|client_secret)"?\s*[:=]\s*"?)(?P<field_value>[^"&,\s}}]+)
    """,
    re.VERBOSE,
)
_KEPT_PREFIX = ("header", "scheme", "sig", "key", "field")
#: A text holding none of these (lower-cased) has no secret shape: most log lines skip the pattern above.
_SHAPE_WORDS = ("authorization", "aeg-sas", "x-identity", "ocp-apim", "bearer", "basic", "eyj", "sig", "accountkey",
                "sharedaccess", "clientsecret", "password", "access_token", "refresh_token", "id_token", "client_secret")
_URL_QUERY = re.compile(r"""(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#"'<>]*)\?[^\s#"'<>]*""")
_PERCENT = re.compile(r"%[0-9A-F]{2}")


def _shape(match: re.Match[str]) -> str:
    kept = next((match.group(name) for name in _KEPT_PREFIX if match.group(name) is not None), "")
    return kept + REDACTED


@lru_cache(maxsize=1024)  # a redactor is rebuilt when one secret changes: the others' forms are known already
def encodings(secret: str) -> frozenset[str]:
    """The forms of ``secret`` that are searched for (each also by its prefixes of 16+ characters)."""
    quoted = {quote(secret, safe=""), quote(secret), quote_plus(secret)}
    lower_hex = {_PERCENT.sub(lambda m: m.group(0).lower(), form) for form in quoted}
    raw = secret.encode("utf-8", "surrogatepass")
    based = {base64.b64encode(b":" + raw).decode(), base64.b64encode(raw).decode()}
    return frozenset(form for form in {secret, *quoted, *lower_hex, *based} if len(form) >= MIN_SECRET_CHARS)


class Redactor:
    """Redacts the held ``secrets`` and every secret shape; immutable (build a new one when the secrets change)."""

    __slots__ = ("_forms", "_heads")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms: dict[str, list[str]] = {}  # the first (up to) 16 characters of a form -> the forms starting so
        for secret in secrets:
            if len(secret) < MIN_SECRET_CHARS:
                continue
            for form in encodings(secret):
                forms.setdefault(form[:MIN_PREFIX_CHARS], []).append(form)
        self._forms = forms
        self._heads = re.compile(_trie_pattern(forms)) if forms else None

    def text(self, text: str) -> str:
        """``text`` with every held secret (any form, any 16+ prefix) and every secret shape replaced by ``[redacted]``."""
        if self._heads is not None:
            text = self._held_out(text)
        lowered = text.lower()
        if not any(word in lowered for word in _SHAPE_WORDS):
            return text
        return _SHAPES.sub(_shape, text)

    def json(self, value: JsonValue) -> JsonValue:
        """A copy of a JSON value with :meth:`text` applied to every string, keys included."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(key): self.json(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.json(item) for item in value]
        return value

    def object(self, value: Mapping[str, Any]) -> dict[str, Any]:
        """:meth:`json` of a JSON object (a result, an event's data), typed as one."""
        return {self.text(key): self.json(item) for key, item in value.items()}

    def _held_out(self, text: str) -> str:
        assert self._heads is not None
        parts: list[str] = []
        position = 0
        while (match := self._heads.search(text, position)) is not None:
            start = match.start()
            end = max(start + _common_length(text, start, form) for form in self._forms[match.group()])
            parts += (text[position:start], REDACTED)
            position = end
        if not parts:
            return text
        parts.append(text[position:])
        return "".join(parts)


_Trie = dict[str, "_Trie"]


def _trie_pattern(words: Iterable[str]) -> str:
    """One regex matching any of ``words``, as a trie (``ab(?:c|d)``): the regex engine then follows one
    branch per character instead of trying every word at every position (hundreds of secrets stay fast)."""
    root: _Trie = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here

    def branch(node: _Trie) -> str:
        ends = "" in node
        options = [re.escape(char) + branch(child) for char, child in sorted(node.items()) if char]
        if not options:
            return ""
        body = options[0] if len(options) == 1 else "(?:" + "|".join(options) + ")"
        return f"(?:{body})?" if ends else body  # a shorter word ending here: the longer ones are optional

    return branch(root)


def _common_length(text: str, start: int, form: str) -> int:
    """How many characters of ``form`` ``text`` repeats from ``start`` (the search already matched its head)."""
    piece = text[start:start + len(form)]
    if piece == form:
        return len(form)
    length = min(len(piece), len(form))
    for index in range(MIN_PREFIX_CHARS, length):
        if piece[index] != form[index]:
            return index
    return length


#: Shapes only: for texts outside a process that holds secrets (tools), and the default of :func:`redact`.
SHAPES_ONLY = Redactor()


def redact(text: str, redactor: Redactor = SHAPES_ONLY) -> str:
    """``redactor.text(text)``: the module's one function under its plain name."""
    return redactor.text(text)


def without_query(text: str) -> str:
    """Every ``scheme://…?query`` in ``text`` without its query (libraries' request log lines, contract §3)."""
    return _URL_QUERY.sub(r"\1", text)
