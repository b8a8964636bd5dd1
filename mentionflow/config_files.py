"""YAML configuration files: safe loading, pydantic validation, file:line errors.

pydantic reports where a value is wrong as a path (``rules.0.when.all.1``);
a person editing YAML needs a line number. The YAML node tree carries the
line of every value, so each error's path is walked through it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from pydantic import BaseModel

__all__ = ["ConfigFileError", "LocatedValueError", "load_config", "parse_config"]

M = TypeVar("M", bound=BaseModel)


class ConfigFileError(ValueError):
    """A config file that cannot be used; ``str()`` lists ``file:line: problem`` lines."""

    def __init__(self, path: str, problems: list[tuple[int | None, str]]) -> None:
        self.path = path
        self.problems = problems
        lines = [f"{path}:{line}: {msg}" if line else f"{path}: {msg}" for line, msg in problems]
        super().__init__("\n".join(lines))


class LocatedValueError(ValueError):
    """A validator's error about a part of the value it checked, e.g. the
    second of two rules with one id: ``at`` is the path below the field, so
    the error points at that line rather than at the start of the list."""

    def __init__(self, message: str, at: tuple[Any, ...]) -> None:
        super().__init__(message)
        self.at = at


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest node on ``loc``; path parts that are not
    YAML keys (pydantic's union tags) are skipped."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for n, part in enumerate(loc):
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if str(key.value) == str(part):
                    if loc[n + 1 : n + 2] == ("[key]",):
                        return key.start_mark.line + 1  # the key itself is wrong
                    child = value
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if 0 <= part < len(node.value):
                child = node.value[part]
        if child is not None:
            node = child
            line = node.start_mark.line + 1
    return line


def _path(loc: tuple[Any, ...], node: yaml.Node | None) -> str:
    parts: list[str] = []
    current = node
    for n, part in enumerate(loc):
        found = None
        if isinstance(current, yaml.MappingNode):
            found = next((v for k, v in current.value if str(k.value) == str(part)), None)
        elif isinstance(current, yaml.SequenceNode) and isinstance(part, int) and part < len(current.value):
            found = current.value[part]
        if found is None and current is not None and n < len(loc) - 1:
            continue  # a union tag, not part of the document (a missing key comes last)
        parts.append(f"[{part}]" if isinstance(part, int) else f".{part}" if parts else str(part))
        current = found
    return "".join(parts) or "(document)"


def parse_config(text: str, model: type[M], source: str = "<config>") -> M:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigFileError(source, [(line, f"YAML syntax: {exc.problem or exc}")]) from exc
    if not isinstance(data, dict):
        raise ConfigFileError(source, [(1, f"expected a mapping at the top, got {type(data).__name__}")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        merged: dict[tuple[int | None, str], list[str]] = {}
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"]) + getattr((err.get("ctx") or {}).get("error"), "at", ())
            key = (_line_of(root, loc), _path(loc, root))
            msg = err["msg"].removeprefix("Value error, ")
            if msg not in merged.setdefault(key, []):
                merged[key].append(msg)
        problems = [(line, f"{path}: {' or '.join(msgs)}") for (line, path), msgs in merged.items()]
        problems.sort(key=lambda p: (p[0] or 0))
        raise ConfigFileError(source, problems) from exc


def load_config(path: Path, model: type[M]) -> M:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError(str(path), [(None, f"cannot read: {exc.strerror}")]) from exc
    return parse_config(text, model, str(path))
