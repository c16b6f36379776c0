"""Log text without secrets: redact() masks keys, SAS signatures and tokens; error summaries for the log."""

from __future__ import annotations

import re
import traceback

__all__ = ["redact"]

_SECRETS = [
    (re.compile(r"(?i)(AccountKey|SharedAccessKey|SharedAccessSignature|Password|ClientSecret)=([^;\s'\"]+)"), r"\1=***"),
    (re.compile(r"(?i)([?&](?:sig|se|sv|sp|skoid|sktid)=)[^&\s'\"]+"), r"\1***"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1***"),
    (re.compile(r"(?i)(\"?(?:access_token|refresh_token|client_secret)\"?\s*[:=]\s*\"?)[^\"&,\s}]+"), r"\1***"),
]


def redact(text: str) -> str:
    """Mask account keys, SAS signatures and bearer tokens in a log text."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _format_exception(error: BaseException, skip_frames: int = 0) -> str:
    tb = error.__traceback__
    for _ in range(skip_frames):  # run_local's own frames say nothing about the failure
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
    lines = traceback.format_exception(type(error), error, tb)
    return "".join(lines).rstrip()


def _brief(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return redact(f"{type(error).__name__}: {text}"[:300])
