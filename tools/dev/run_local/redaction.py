"""Log text without secrets: redact() is the watcher's one redaction function; error summaries for the log."""

from __future__ import annotations

import traceback

from shared.edges.secrets import PROCESS_SECRETS

__all__ = ["redact"]


def redact(text: str) -> str:
    """Account keys, SAS signatures, bearer tokens, JWTs and every secret the process holds -> ``[redacted]``.

    :mod:`shared.core.redaction` through the process's :data:`~shared.edges.secrets.PROCESS_SECRETS`
    (the app's tokens and keys, once it runs in this process).
    """
    return PROCESS_SECRETS.text(text)


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
