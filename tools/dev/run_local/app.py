"""The app: import the module, find its FunctionApp and queue-triggered function, build a Context."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.dev.run_local.common import PROJECT_ROOT, RunLocalError
from tools.dev.run_local.settings import _resolve_percent

__all__ = ["QueueFunction", "find_queue_function", "load_app"]

_FUNCTIONS: dict[int, tuple[Any, list[Any]]] = {}
_FUNCTIONS_LOCK = threading.Lock()


def load_app(module_name: str = "function_app", project_dir: str | os.PathLike[str] | None = None) -> Any:
    """Import the app module and return its ``FunctionApp`` (as the Python worker finds it)."""
    from azure.functions.decorators.function_app import FunctionRegister

    for path in (PROJECT_ROOT, Path(project_dir).resolve() if project_dir else None):
        if path is not None and str(path) not in sys.path:
            sys.path.insert(0, str(path))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            raise RunLocalError(f"app module {module_name!r} not found") from None
        raise RunLocalError(f"app module {module_name!r} could not be imported: {error}") from None
    except Exception as error:  # noqa: BLE001 - e.g. a SettingsError naming the setting: one line, no traceback
        from tools.dev.run_local.redaction import redact

        shown = str(error) if type(error).__name__ == "SettingsError" else f"{type(error).__name__}: {error}"
        raise RunLocalError(f"{module_name} did not start: {redact(shown)}") from None
    apps = [value for value in vars(module).values() if isinstance(value, FunctionRegister)]
    apps = list({id(app): app for app in apps}.values())
    if len(apps) != 1:
        raise RunLocalError(f"{module_name}: expected exactly one FunctionApp, found {len(apps)}")
    return apps[0]


def functions_of(app: Any) -> list[Any]:
    # FunctionApp.get_functions() may be called once per app object: cache it.
    with _FUNCTIONS_LOCK:
        cached = _FUNCTIONS.get(id(app))
        if cached is None or cached[0] is not app:
            cached = (app, list(app.get_functions()))
            _FUNCTIONS[id(app)] = cached
        return cached[1]


@dataclass(frozen=True)
class QueueFunction:
    """The queue-triggered function of an app, as run_local calls it."""

    name: str
    arg_name: str
    queue_name_setting: str  # e.g. "%OPERATIONS_QUEUE%"
    connection: str  # the connection setting (prefix), e.g. "AzureWebJobsStorage"
    user_function: Callable[..., Any]
    context_arg: str | None = None

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.user_function)

    def queue_name(self, settings: Mapping[str, str]) -> str:
        return _resolve_percent(self.queue_name_setting, settings, f"function {self.name}: queue name")


def find_queue_function(app: Any, name: str | None = None) -> QueueFunction:
    """The (one, or the named) queue-triggered function of a ``FunctionApp``."""
    candidates = []
    for function in functions_of(app):
        trigger = function.get_trigger()
        if trigger is not None and getattr(trigger, "type", None) == "queueTrigger":
            candidates.append(function)
    if name is not None:
        candidates = [f for f in candidates if f.get_function_name() == name]
    if len(candidates) != 1:
        names = [f.get_function_name() for f in candidates]
        wanted = f"named {name!r}" if name else "(use --function to choose)" if names else ""
        raise RunLocalError(f"expected one queue-triggered function {wanted}, found {names or 'none'}")
    function = candidates[0]
    trigger = function.get_trigger()
    for binding in function.get_bindings():
        if binding is not trigger:
            raise RunLocalError(
                f"function {function.get_function_name()}: binding {binding.name!r} ({binding.type}) "
                "is not supported by tools.run_local (queue trigger only)"
            )
    user_function = function.get_user_function()
    context_arg = None
    for parameter in inspect.signature(user_function).parameters.values():
        if parameter.name == trigger.name:
            continue
        if parameter.name == "context":
            context_arg = parameter.name
            continue
        if parameter.default is inspect.Parameter.empty:
            raise RunLocalError(
                f"function {function.get_function_name()}: parameter {parameter.name!r} has no binding"
            )
    return QueueFunction(
        name=function.get_function_name(),
        arg_name=trigger.name,
        queue_name_setting=trigger.queue_name,
        connection=getattr(trigger, "connection", None) or "AzureWebJobsStorage",
        user_function=user_function,
        context_arg=context_arg,
    )


def _make_context(function: QueueFunction, invocation_id: str) -> Any:
    import azure.functions as func

    class LocalContext(func.Context):
        def __init__(self) -> None:
            self._local = threading.local()
            self._local.invocation_id = invocation_id

        @property
        def invocation_id(self) -> str:
            return invocation_id

        @property
        def thread_local_storage(self) -> Any:
            return self._local

        @property
        def function_name(self) -> str:
            return function.name

        @property
        def function_directory(self) -> str:
            return os.getcwd()

        @property
        def trace_context(self) -> Any:
            return None

        @property
        def retry_context(self) -> Any:
            return None

    return LocalContext()
