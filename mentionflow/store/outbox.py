"""The delivery outbox: what must still be sent where, and what happened.

Rows are written by the transaction that writes the ticket (``enqueue``), so
the ticket and the promise to deliver it exist together or not at all. The
dispatcher then claims due rows under a lease, sends them and records the
outcome. A dispatcher that dies mid-send leaves its lease to expire and
another attempt follows, with the same idempotency key, so receivers that
honour it (webhooks, Zendesk) see one ticket, not two.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, or_, select, update

from mentionflow.models import utcnow
from mentionflow.store.db import stored_time
from mentionflow.store.tables import DeliveryRow

__all__ = ["Delivery", "DeliveryStatus", "Outbox", "OutboxEntry", "enqueue", "idempotency_key"]


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    #: gave up: out of attempts, or the receiver refused for good (bad token)
    FAILED = "failed"


@dataclass(frozen=True)
class OutboxEntry:
    """One delivery to write with a ticket: which sink, for which team and role."""

    sink: str
    team: str
    role: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Delivery:
    """A claimed outbox row, as the dispatcher sees it."""

    id: int
    ticket_id: str
    sink: str
    team: str
    role: str
    idempotency_key: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


def idempotency_key(ticket_id: str, sink: str) -> str:
    """Stable across every attempt and every dispatcher: derived, not random."""
    return hashlib.sha256(f"{ticket_id}\x00{sink}".encode()).hexdigest()


def enqueue(
    conn: Connection, insert: Any, ticket_id: str, entries: Sequence[OutboxEntry], now: datetime
) -> None:
    """Write ``entries`` for a ticket inside the caller's transaction.

    ``insert`` is the dialect's insert construct (it has ON CONFLICT): a
    replayed batch or two teams sharing a sink add nothing twice."""
    if not entries:
        return
    rows = [
        {
            "ticket_id": ticket_id,
            "sink": e.sink,
            "team": e.team,
            "role": e.role,
            "idempotency_key": idempotency_key(ticket_id, e.sink),
            "payload": e.payload,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for e in _first_per_sink(entries)
    ]
    conn.execute(insert(DeliveryRow).on_conflict_do_nothing(index_elements=["ticket_id", "sink"]), rows)


def _first_per_sink(entries: Sequence[OutboxEntry]) -> list[OutboxEntry]:
    # The owner comes first, so a sink both the owner and a cc'd team use is
    # recorded as the owner's.
    seen: dict[str, OutboxEntry] = {}
    for e in entries:
        seen.setdefault(e.sink, e)
    return list(seen.values())


class Outbox:
    """The dispatcher's side of the outbox."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim(self, owner: str, limit: int, lease: timedelta, now: datetime | None = None) -> list[Delivery]:
        """Lease up to ``limit`` due deliveries to ``owner``.

        The lease condition is repeated in the UPDATE's own WHERE: under
        PostgreSQL's read committed, a row another dispatcher leased between
        the sub-select and the update is re-checked and skipped, so two
        dispatchers never hold the same row."""
        now = now or utcnow()
        free = or_(DeliveryRow.lease_until.is_(None), DeliveryRow.lease_until < now)
        due = and_(DeliveryRow.status == DeliveryStatus.PENDING.value, DeliveryRow.next_attempt_at <= now, free)
        with self.engine.begin() as conn:
            ids = list(conn.execute(
                select(DeliveryRow.id).where(due).order_by(DeliveryRow.next_attempt_at, DeliveryRow.id).limit(limit)
            ).scalars())
            if not ids:
                return []
            conn.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id.in_(ids), due)
                .values(lease_owner=owner, lease_until=now + lease, updated_at=now)
            )
            rows = conn.execute(
                select(DeliveryRow.__table__).where(DeliveryRow.id.in_(ids), DeliveryRow.lease_owner == owner)
                .order_by(DeliveryRow.next_attempt_at, DeliveryRow.id)
            ).all()
            return [
                Delivery(r.id, r.ticket_id, r.sink, r.team, r.role, r.idempotency_key, dict(r.payload),
                         r.attempts, stored_time(r.created_at))
                for r in rows
            ]

    def delivered(self, delivery: Delivery, owner: str, external_ref: str | None) -> bool:
        now = utcnow()
        return self._finish(delivery, owner, status=DeliveryStatus.DELIVERED.value, attempts=delivery.attempts + 1,
                            delivered_at=now, external_ref=external_ref, last_error=None, now=now)

    def retry_at(self, delivery: Delivery, owner: str, error: str, when: datetime) -> bool:
        return self._finish(delivery, owner, status=DeliveryStatus.PENDING.value, attempts=delivery.attempts + 1,
                            next_attempt_at=when, last_error=error, now=utcnow())

    def failed(self, delivery: Delivery, owner: str, error: str) -> bool:
        return self._finish(delivery, owner, status=DeliveryStatus.FAILED.value, attempts=delivery.attempts + 1,
                            last_error=error, now=utcnow())

    def _finish(self, delivery: Delivery, owner: str, now: datetime, **values: Any) -> bool:
        """Record an outcome if ``owner`` still holds the lease; False if it
        lapsed (the send took longer than the lease and another attempt may
        be under way)."""
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id == delivery.id, DeliveryRow.lease_owner == owner)
                .values(lease_owner=None, lease_until=None, updated_at=now, **values)
            ).rowcount
        return bool(changed)

    def requeue(self, ids: Iterable[int] | None = None, sink: str | None = None) -> int:
        """Give failed deliveries another round of attempts (after fixing a
        token or a URL); returns how many."""
        now = utcnow()
        cond = [DeliveryRow.status == DeliveryStatus.FAILED.value]
        if ids is not None:
            cond.append(DeliveryRow.id.in_(list(ids)))
        if sink is not None:
            cond.append(DeliveryRow.sink == sink)
        with self.engine.begin() as conn:
            return conn.execute(
                update(DeliveryRow).where(*cond).values(
                    status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=now, updated_at=now
                )
            ).rowcount

    def counts(self) -> dict[tuple[str, str], int]:
        """``(sink, status) -> n``: what the metrics and ``deliveries list`` show."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(DeliveryRow.sink, DeliveryRow.status, func.count()).group_by(DeliveryRow.sink, DeliveryRow.status)
            ).all()
        return {(sink, status): n for sink, status, n in rows}

    def rows(self, status: DeliveryStatus | None = None, limit: int = 100) -> list[dict[str, Any]]:
        query = select(
            DeliveryRow.id, DeliveryRow.ticket_id, DeliveryRow.sink, DeliveryRow.team, DeliveryRow.role,
            DeliveryRow.status, DeliveryRow.attempts, DeliveryRow.next_attempt_at, DeliveryRow.last_error,
            DeliveryRow.external_ref, DeliveryRow.delivered_at,
        ).order_by(DeliveryRow.id.desc()).limit(limit)
        if status is not None:
            query = query.where(DeliveryRow.status == status.value)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]
