"""What listeners remember between runs: cursors, seen mention ids, the intake queue.

A cursor alone cannot promise "no repeats": a platform may page newest
first, a token may expire mid-way, a stream reconnect may overlap. So each
source also keeps the ids it has published for a retention window, and a
checkpoint saves the cursor and those ids in one transaction, after the
producer has flushed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, select

from mentionflow.models import utcnow
from mentionflow.store.db import stored_time
from mentionflow.store.tables import IntakeQueueRow, SourceCursorRow, SourceSeenRow

__all__ = ["IntakeQueue", "QueuedItem", "SourceState", "SourceStatus"]

_CHUNK = 500


@dataclass(frozen=True)
class SourceStatus:
    source: str
    cursor: dict[str, Any] | None
    updated_at: datetime | None
    polled_at: datetime | None


class SourceState:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        if engine.dialect.name == "postgresql":
            from sqlalchemy.dialects import postgresql

            self._insert = postgresql.insert
        else:
            from sqlalchemy.dialects import sqlite

            self._insert = sqlite.insert

    def get_cursor(self, source: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(SourceCursorRow.cursor).where(SourceCursorRow.source == source)
            ).scalar_one_or_none()

    def status(self, sources: Iterable[str]) -> dict[str, SourceStatus]:
        wanted = list(sources)
        with self.engine.connect() as conn:
            t = SourceCursorRow
            rows = conn.execute(select(t.source, t.cursor, t.updated_at, t.polled_at).where(t.source.in_(wanted)))
            found = {
                r.source: SourceStatus(r.source, r.cursor, stored_time(r.updated_at), stored_time(r.polled_at))
                for r in rows
            }
        return {s: found.get(s, SourceStatus(s, None, None, None)) for s in wanted}

    def unseen(self, source: str, mention_ids: Sequence[str]) -> set[str]:
        """The ids among ``mention_ids`` this source has not published before."""
        wanted = set(mention_ids)
        seen: set[str] = set()
        ordered = sorted(wanted)
        with self.engine.connect() as conn:
            for i in range(0, len(ordered), _CHUNK):
                chunk = ordered[i : i + _CHUNK]
                seen.update(conn.execute(
                    select(SourceSeenRow.mention_id).where(
                        SourceSeenRow.source == source, SourceSeenRow.mention_id.in_(chunk)
                    )
                ).scalars())
        return wanted - seen

    def checkpoint(self, source: str, cursor: dict[str, Any] | None, published: Iterable[str]) -> None:
        """Record published ids and, if given, the cursor: one transaction."""
        now = utcnow()
        rows = [{"source": source, "mention_id": m, "seen_at": now} for m in dict.fromkeys(published)]
        with self.engine.begin() as conn:
            for i in range(0, len(rows), _CHUNK):
                conn.execute(
                    self._insert(SourceSeenRow).on_conflict_do_nothing(index_elements=["source", "mention_id"]),
                    rows[i : i + _CHUNK],
                )
            if cursor is not None:
                stmt = self._insert(SourceCursorRow).values(source=source, cursor=cursor, updated_at=now)
                conn.execute(stmt.on_conflict_do_update(
                    index_elements=["source"], set_={"cursor": stmt.excluded.cursor, "updated_at": now}
                ))

    def finished_poll(self, source: str, retention: timedelta) -> None:
        """Stamp a successful poll and forget ids older than ``retention``."""
        now = utcnow()
        with self.engine.begin() as conn:
            stmt = self._insert(SourceCursorRow).values(source=source, cursor={}, updated_at=now, polled_at=now)
            conn.execute(stmt.on_conflict_do_update(index_elements=["source"], set_={"polled_at": now}))
            conn.execute(delete(SourceSeenRow).where(
                SourceSeenRow.source == source, SourceSeenRow.seen_at < now - retention
            ))

    def reset(self, source: str) -> None:
        """Forget the cursor and seen ids: the next poll starts from the beginning."""
        with self.engine.begin() as conn:
            conn.execute(delete(SourceCursorRow).where(SourceCursorRow.source == source))
            conn.execute(delete(SourceSeenRow).where(SourceSeenRow.source == source))


@dataclass(frozen=True)
class QueuedItem:
    id: int
    source: str
    mention_id: str | None
    payload: bytes
    reason: str | None


class IntakeQueue:
    """Pushed items between the HTTP answer and Kafka (see IntakeQueueRow)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def put(self, source: str, items: Sequence[tuple[str | None, bytes, str | None]]) -> None:
        """``items``: (mention id or None, payload, reject reason or None)."""
        now = utcnow()
        rows = [
            {"source": source, "mention_id": m, "payload": p, "reason": r, "received_at": now} for m, p, r in items
        ]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(IntakeQueueRow.__table__.insert(), rows)

    def peek(self, limit: int = 500) -> list[QueuedItem]:
        with self.engine.connect() as conn:
            t = IntakeQueueRow
            rows = conn.execute(
                select(t.id, t.source, t.mention_id, t.payload, t.reason).order_by(t.id).limit(limit)
            )
            return [QueuedItem(r.id, r.source, r.mention_id, bytes(r.payload), r.reason) for r in rows]

    def remove(self, ids: Iterable[int]) -> None:
        wanted = list(ids)
        with self.engine.begin() as conn:
            for i in range(0, len(wanted), _CHUNK):
                conn.execute(delete(IntakeQueueRow).where(IntakeQueueRow.id.in_(wanted[i : i + _CHUNK])))

    def depth(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(IntakeQueueRow)).scalar_one())


