"""Write the published JSON Schemas from the models that validate messages.

``schemas/request.schema.json`` comes from :data:`shared.core.request_model.REQUEST_ADAPTER`
(the models the watcher validates every queue message with) and
``schemas/result.schema.json`` from :data:`shared.core.result_model.RESULT_ADAPTER`
(the result object of contract §3). Both are JSON Schema 2020-12, as pydantic
generates it; nothing in them is written by hand.

::

    python -m tools.schemas            # (re)write schemas/*.schema.json
    python -m tools.schemas --check    # exit 1, naming the files, if they differ from the code
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["SCHEMA_DIR", "SCHEMAS", "render", "generate", "drifted", "main"]

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _document(title: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    body = {key: value for key, value in schema.items() if key not in ("title", "description")}
    return {"$schema": DIALECT, "title": title, "description": description, **body}


def request_schema() -> dict[str, Any]:
    from shared.core.request_model import REQUEST_ADAPTER

    return _document(
        "lro-watcher request",
        "One message on the operations queue: raw UTF-8 JSON text (base64 of it is accepted too). "
        "Validation also applies rules a schema cannot express: URL hosts must pass the token rules, "
        "path fields must be one path segment, and the message must be at most 63 KiB.",
        REQUEST_ADAPTER.json_schema(),
    )


def result_schema() -> dict[str, Any]:
    from shared.core.result_model import RESULT_ADAPTER

    return _document(
        "lro-watcher result",
        "One operation's outcome: the body of a results queue message, and the data of its CloudEvent. "
        "Every copy of one outcome has the same eventId.",
        RESULT_ADAPTER.json_schema(),
    )


#: File name -> the function that builds its schema.
SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "request.schema.json": request_schema,
    "result.schema.json": result_schema,
}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def generate() -> dict[str, str]:
    """File name -> the text it must hold."""
    return {name: render(build()) for name, build in SCHEMAS.items()}


def drifted(directory: Path = SCHEMA_DIR) -> list[str]:
    """The schema files in ``directory`` that are missing or differ from the code."""
    stale = []
    for name, text in generate().items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.schemas", description="Write schemas/*.schema.json from the models.")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the files differ from the code")
    parser.add_argument("--dir", type=Path, default=SCHEMA_DIR, help="where the schemas are (default: schemas/)")
    args = parser.parse_args(argv)
    if args.check:
        stale = drifted(args.dir)
        for name in stale:
            print(f"{args.dir / name} differs from the models: run python -m tools.schemas", file=sys.stderr)
        return 1 if stale else 0
    args.dir.mkdir(parents=True, exist_ok=True)
    for name, text in generate().items():
        (args.dir / name).write_text(text, encoding="utf-8")
        print(args.dir / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
