"""JSON Lines in and out for the command-line filters.

The contract other tools rely on: one output line per input line, in order;
a line that cannot be processed becomes ``{"id": ..., "error": ...}`` on its
line, with a message on stderr, and processing continues.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

__all__ = ["LineError", "read_objects", "write_object"]


@dataclass(frozen=True)
class LineError:
    line_no: int
    id: Any
    error: str

    def as_output(self) -> dict[str, Any]:
        return {"id": self.id, "error": self.error}


def read_objects(
    stream: IO[str],
    required: dict[str, type | tuple[type, ...]],
    nonblank: tuple[str, ...] = (),
) -> Iterator[dict[str, Any] | LineError]:
    """Parse each non-blank line; check ``required`` keys, their types, and
    that the string fields named in ``nonblank`` are not empty."""
    for n, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield LineError(n, None, f"line {n}: invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(obj, dict):
            yield LineError(n, None, f"line {n}: expected a JSON object, got {type(obj).__name__}")
            continue
        problem = _check(obj, required) or next(
            (f"{k} is empty" for k in nonblank if not str(obj.get(k, "")).strip()), None
        )
        if problem:
            yield LineError(n, obj.get("id"), f"line {n}: {problem}")
            continue
        yield obj


def _check(obj: dict[str, Any], required: dict[str, type | tuple[type, ...]]) -> str | None:
    if "error" in obj and "text" not in obj:
        return f"upstream error: {obj['error']}"
    for key, kind in required.items():
        if key not in obj:
            return f"missing field '{key}'"
        value = obj[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            return f"field '{key}' must be {names}, got {type(value).__name__}"
    return None


def write_object(out: IO[str], obj: dict[str, Any]) -> None:
    out.write(json.dumps(obj, ensure_ascii=False) + "\n")


def report(error: LineError) -> None:
    print(f"mentionflow: {error.error}", file=sys.stderr)
