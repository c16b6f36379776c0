"""App settings as Core Tools loads them: local.settings.json ``Values`` < environment; %SETTING% names.

Also the export of the settings into ``os.environ`` (and back) around a run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from tools.dev.run_local.common import DEFAULT_SETTINGS, RunLocalError, log, read_json_object

__all__ = ["read_local_settings", "resolve_settings", "worker_thread_count"]


def read_local_settings(path: str | os.PathLike[str]) -> dict[str, str]:
    """``Values`` of a local.settings.json (empty when the file does not exist)."""
    path = Path(path)
    if not path.exists():
        return {}
    data = read_json_object(path)
    if data.get("IsEncrypted"):
        raise RunLocalError(f"{path}: IsEncrypted is true; run_local reads plain-text values only")
    values = data.get("Values") or {}
    if not isinstance(values, Mapping):
        raise RunLocalError(f"{path}: Values must be an object")
    result: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        if not isinstance(value, str):
            raise RunLocalError(f"{path}: Values.{key} must be a string")
        result[str(key)] = value
    return result


def resolve_settings(
    environ: Mapping[str, str] | None = None,
    *,
    local_settings: str | os.PathLike[str] | None = None,
    project_dir: str | os.PathLike[str] | None = None,
    no_local_settings: bool = False,
) -> dict[str, str]:
    """The settings the app sees: contract defaults < local.settings.json ``Values`` < ``environ``.

    ``local_settings`` defaults to ``{project_dir}/local.settings.json``; ``no_local_settings`` reads none.
    """
    if environ is None:
        environ = os.environ
    if local_settings is None:
        local_settings = Path(project_dir or os.getcwd()) / "local.settings.json"
    settings = dict(DEFAULT_SETTINGS)
    if not no_local_settings:
        settings.update(read_local_settings(local_settings))
    settings.update(environ)
    return settings


def _resolve_percent(value: str, settings: Mapping[str, str], what: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        resolved = settings.get(name)
        if resolved is None or resolved == "":
            raise RunLocalError(f"{what} {value!r}: app setting {name} is not set")
        return resolved

    return re.sub(r"%([^%]+)%", replace, value)


def _export(settings: Mapping[str, str]) -> dict[str, str | None]:
    saved = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    return saved


def _restore(saved: Mapping[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def worker_thread_count(settings: Mapping[str, str]) -> int | None:
    """Threads for sync functions, as the Python worker reads PYTHON_THREADPOOL_THREAD_COUNT.

    An integer of at least 1; unset or invalid (with a warning, as the worker) means ``None``:
    Python's ThreadPoolExecutor default, min(32, CPUs + 4), which is also the worker's.
    """
    value = settings.get("PYTHON_THREADPOOL_THREAD_COUNT")
    if value is None or value == "":
        return None
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        log.warning("PYTHON_THREADPOOL_THREAD_COUNT must be an integer of at least 1, got %r; using the default", value)
        return None
    return count
