"""Replay listener: publish mentions from a JSON Lines file.

For demos, backfills and re-processing exports from other tools. Each line
is a mention as a platform would describe it (``platform``, ``native_id``,
``brand``, ``text``, ``author``, ``created_at``...); keys the contract does
not know are kept in ``raw``. The cursor is the number of lines consumed and
a hash of them, so an appended file resumes where it stopped and a rewritten
file starts over.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError, field_validator

from listeners.base import Checkpoint, ListenerOutput, Mode, Rejected
from listeners.connectors.base import SourceBase
from listeners.errors import ContentGone
from mentionflow.models import Author, Mention, mention_id, utcnow
from mentionflow.settings import PROJECT_ROOT

__all__ = ["ReplayListener", "ReplaySource", "mention_from_record"]

#: a checkpoint every this many lines, so a restart of a large file resumes near where it stopped
CHECKPOINT_LINES = 500

_FIELDS = {"platform", "native_id", "brand", "text", "language", "author", "url", "created_at", "id"}


def mention_from_record(record: dict[str, Any], default_brand: str | None = None) -> Mention:
    """Build a Mention from a loosely typed source record (raises ValueError).

    The record is kept unchanged as ``raw``; ``default_brand`` fills a missing brand.
    """
    platform = record.get("platform")
    native_id = record.get("native_id")
    if not isinstance(platform, str) or not isinstance(native_id, str | int):
        raise ValueError("record needs string 'platform' and 'native_id'")
    author = record.get("author")
    if not isinstance(author, dict):
        raise ValueError("record needs an 'author' object")
    data = {
        "id": mention_id(platform, str(native_id)),
        "platform": platform,
        "native_id": str(native_id),
        "brand": record.get("brand") or default_brand,
        "text": record.get("text"),
        "language": record.get("language"),
        "author": Author.model_validate(author),
        "url": record.get("url"),
        "created_at": record.get("created_at"),
        "received_at": utcnow(),
        "raw": record,
    }
    return Mention.model_validate(data, strict=False)


class ReplaySource(SourceBase):
    """A JSON Lines file of mentions, read from where the last run stopped."""

    modes = (Mode.POLL,)
    summary = "JSON Lines files of mentions (exports, backfills, demos)"

    kind: Literal["replay"]
    path: Path

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value if value.is_absolute() else PROJECT_ROOT / value

    def listener(self) -> ReplayListener:
        if not self.path.exists():
            raise ContentGone(f"{self.name}: replay file {self.path} does not exist")
        return ReplayListener(self.name, self.path)

    def probe(self) -> str:
        lines = self.listener().path.read_bytes().count(b"\n")
        return f"{self.path} is readable: {lines} lines"


class ReplayListener:
    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path

    def poll(self, cursor: dict[str, Any] | None) -> Iterator[ListenerOutput]:
        lines = self.path.read_bytes().splitlines()
        start = 0
        if cursor and cursor.get("path") == str(self.path):
            done = int(cursor.get("line", 0))
            if done <= len(lines) and _digest(lines[:done]) == cursor.get("sha256"):
                start = done  # same prefix: an appended file resumes
        digest = hashlib.sha256()
        for raw in lines[:start]:
            digest.update(raw + b"\n")
        for n in range(start, len(lines)):
            raw = lines[n]
            digest.update(raw + b"\n")
            if raw.strip():
                yield self._parse(raw, n + 1)
            if (n + 1) % CHECKPOINT_LINES == 0 or n + 1 == len(lines):
                yield Checkpoint({"path": str(self.path), "line": n + 1, "sha256": digest.hexdigest()})

    def _parse(self, raw: bytes, line_no: int) -> Mention | Rejected:
        where = f"{self.path}:{line_no}"
        try:
            record = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return Rejected(raw, f"{where}: not JSON: {exc}")
        if not isinstance(record, dict):
            return Rejected(raw, f"{where}: expected a JSON object")
        try:
            return mention_from_record(record)
        except (ValidationError, ValueError) as exc:
            return Rejected(raw, f"{where}: {exc}")


def _digest(lines: list[bytes]) -> str:
    h = hashlib.sha256()
    for raw in lines:
        h.update(raw + b"\n")
    return h.hexdigest()
