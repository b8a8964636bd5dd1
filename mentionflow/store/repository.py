"""Idempotent writes and the reads the pipeline needs.

Inserts ignore conflicts on the mention id, so replaying a batch after a
crash writes nothing twice; the unique constraint on ``tickets.mention_id``
makes "one ticket per mention" a property of the database, not of the code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, Engine, case, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from classifiers.dedup import copy_text
from mentionflow.models import ClassifiedMention, Ticket, TicketStatus, utcnow
from mentionflow.store.db import stored_time
from mentionflow.store.outbox import OutboxEntry, enqueue
from mentionflow.store.tables import BrandStateRow, MentionRow, TicketEventRow, TicketRow

__all__ = ["DUPLICATE_WINDOW", "ROUTER", "OutboxPlan", "RoutedMention", "TicketStore"]

#: how long an open ticket keeps absorbing repeats of its mention
DUPLICATE_WINDOW = timedelta(hours=24)
#: the audit log's actor for what the pipeline itself does
ROUTER = "router"
#: texts shorter than this ("thanks!", "lol") are not campaign copies of each other
MIN_CAMPAIGN_TEXT = 24


@dataclass(frozen=True)
class RoutedMention:
    """A classified mention with the routing decision; ``ticket`` is None when suppressed."""

    classified: ClassifiedMention
    rule_id: str
    ticket: Ticket | None
    spam_reasons: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def spam(self) -> bool:
        return bool(self.spam_reasons)


#: what to write to the outbox for a new ticket (the routing layer's delivery plan)
OutboxPlan = Callable[[RoutedMention], Sequence[OutboxEntry]]


class TicketStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        dialect = engine.dialect.name
        if dialect == "postgresql":
            self._insert = postgresql.insert
        elif dialect == "sqlite":
            self._insert = sqlite.insert
        else:  # pragma: no cover - guarded at configuration time
            raise ValueError(f"unsupported database backend {dialect!r}: use PostgreSQL or SQLite")

    # -- writes -----------------------------------------------------------
    def save(
        self,
        batch: Sequence[RoutedMention],
        duplicate_window: timedelta = DUPLICATE_WINDOW,
        outbox: OutboxPlan | None = None,
    ) -> list[Ticket]:
        """Write mentions and tickets in one transaction; return every ticket
        of the batch not yet published, including ones written by an earlier
        attempt that crashed before publishing.

        Each new ticket's deliveries (``outbox``) are written in the same
        transaction, so no ticket exists without its promise to be delivered.

        A new mention that repeats an open ticket of the same team and brand
        (the same author again, or the same text: retweets, copy-paste
        campaigns) within ``duplicate_window`` is attached to that ticket,
        raising its counter, instead of opening another. Mentions already
        stored (a replayed batch) change nothing.
        """
        if not batch:
            return []
        now = utcnow()
        by_id = {r.classified.id: r for r in batch}
        with self.engine.begin() as conn:
            stored = set(conn.execute(select(MentionRow.id).where(MentionRow.id.in_(list(by_id)))).scalars())
            fresh = [r for mid, r in by_id.items() if mid not in stored]
            if fresh:
                conn.execute(self._insert(MentionRow).on_conflict_do_nothing(index_elements=["id"]),
                             [_mention_row(r, now) for r in fresh])
            for routed in fresh:
                if routed.ticket is not None:
                    self._open_or_attach(conn, routed, now, duplicate_window, outbox)
            ticket_mentions = [mid for mid, r in by_id.items() if r.ticket]
            rows = conn.execute(
                select(TicketRow.__table__).where(
                    TicketRow.mention_id.in_(ticket_mentions), TicketRow.published_at.is_(None)
                )
            ).all() if ticket_mentions else []
        return [_ticket_from_row(row) for row in rows]

    def _open_or_attach(
        self, conn: Connection, routed: RoutedMention, now: datetime, window: timedelta, outbox: OutboxPlan | None
    ) -> None:
        ticket = routed.ticket
        assert ticket is not None
        m = routed.classified.mention
        author_key = f"{m.platform}:{m.author.handle.casefold()}:{m.brand.casefold()}"
        text_key = _text_key(m.text)
        same = [TicketRow.author_key == author_key] + ([TicketRow.text_key == text_key] if text_key else [])
        open_ticket = conn.execute(
            select(TicketRow.id, TicketRow.author_key, TicketRow.status)
            .where(
                TicketRow.team == ticket.team.value,
                TicketRow.brand == m.brand,
                TicketRow.status != TicketStatus.RESOLVED.value,
                TicketRow.last_mention_at >= _utc(m.created_at) - window,
                or_(*same),
            )
            .order_by(TicketRow.created_at)
            .limit(1)
        ).first()
        if open_ticket is not None:
            conn.execute(
                update(TicketRow)
                .where(TicketRow.id == open_ticket.id)
                .values(mention_count=TicketRow.mention_count + 1,
                        last_mention_at=case((TicketRow.last_mention_at < _utc(m.created_at), _utc(m.created_at)),
                                             else_=TicketRow.last_mention_at),
                        updated_at=now)
            )
            conn.execute(update(MentionRow).where(MentionRow.id == m.id).values(ticket_id=open_ticket.id))
            why = "the same author" if open_ticket.author_key == author_key else "the same text"
            conn.execute(insert(TicketEventRow).values(
                ticket_id=open_ticket.id, at=now, actor=ROUTER, action="attached", from_status=open_ticket.status,
                to_status=open_ticket.status, details={"mention_id": m.id, "because": why},
            ))
            return
        row = _ticket_row(ticket) | {"author_key": author_key, "text_key": text_key,
                                     "last_mention_at": _utc(m.created_at), "updated_at": now}
        inserted = conn.execute(
            self._insert(TicketRow).on_conflict_do_nothing(index_elements=["mention_id"]), [row]
        ).rowcount
        conn.execute(update(MentionRow).where(MentionRow.id == m.id).values(ticket_id=ticket.id))
        if inserted:
            conn.execute(insert(TicketEventRow).values(
                ticket_id=ticket.id, at=now, actor=ROUTER, action="created", from_status=None,
                to_status=ticket.status.value, details={"rule_id": ticket.rule_id, "reasons": list(ticket.reasons)},
            ))
            if outbox is not None:
                enqueue(conn, self._insert, ticket.id, outbox(routed), now)

    def mark_published(self, ticket_ids: Iterable[str]) -> None:
        ids = list(ticket_ids)
        if not ids:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(TicketRow)
                .where(TicketRow.id.in_(ids), TicketRow.published_at.is_(None))
                .values(published_at=utcnow())
            )

    def set_spike(self, brand: str, active: bool, reason: str | None = None) -> None:
        """Enter or leave a brand's crisis state (spike detection calls this)."""
        now = utcnow()
        row = {"brand": brand, "spike": active, "since": now if active else None, "reason": reason, "updated_at": now}
        stmt = self._insert(BrandStateRow).values(**row)
        keep_since = case((BrandStateRow.spike.is_(True), BrandStateRow.since), else_=stmt.excluded.since)
        stmt = stmt.on_conflict_do_update(
            index_elements=["brand"],
            set_={
                "spike": stmt.excluded.spike,
                "since": keep_since if active else None,
                "reason": stmt.excluded.reason,
                "updated_at": stmt.excluded.updated_at,
            },
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def brands_in_spike(self, brands: Iterable[str] | None = None) -> set[str]:
        stmt = select(BrandStateRow.brand).where(BrandStateRow.spike.is_(True))
        if brands is not None:
            stmt = stmt.where(BrandStateRow.brand.in_(list(brands)))
        with self.engine.connect() as conn:
            return set(conn.execute(stmt).scalars())

    # -- reads ------------------------------------------------------------
    def routed_ids(self, ids: Iterable[str]) -> set[str]:
        wanted = list(ids)
        found: set[str] = set()
        with self.engine.connect() as conn:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                found.update(conn.execute(select(MentionRow.id).where(MentionRow.id.in_(chunk))).scalars())
        return found

    def ticket_counts(self, mention_ids: Iterable[str] | None = None) -> dict[tuple[str, str], int]:
        """Tickets per (team, category), optionally for some mentions only."""
        stmt = select(TicketRow.team, TicketRow.category, func.count()).group_by(
            TicketRow.team, TicketRow.category
        )
        if mention_ids is not None:
            stmt = stmt.where(TicketRow.mention_id.in_(list(mention_ids)))
        with self.engine.connect() as conn:
            return {(team, cat): n for team, cat, n in conn.execute(stmt)}

    def count_tickets(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(TicketRow)).scalar_one())

    def count_mentions(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(MentionRow)).scalar_one())

    def tickets_for(self, mention_ids: Iterable[str]) -> list[Ticket]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(TicketRow.__table__).where(TicketRow.mention_id.in_(list(mention_ids)))).all()
        return [_ticket_from_row(r) for r in rows]


def _mention_row(routed: RoutedMention, now: datetime) -> dict[str, Any]:
    c = routed.classified
    m = c.mention
    return {
        "id": m.id,
        "platform": m.platform,
        "native_id": m.native_id,
        "brand": m.brand,
        "text": m.text,
        "language": c.language or m.language,
        "author_handle": m.author.handle,
        "author_display_name": m.author.display_name,
        "author_followers": m.author.followers,
        "author_verified": m.author.verified,
        "url": m.url,
        "created_at": _utc(m.created_at),
        "received_at": _utc(m.received_at),
        "raw": m.raw,
        "category": c.category.value,
        "confidence": c.confidence,
        "needs_review": c.needs_review,
        "scores": {k.value: v for k, v in c.scores.items()},
        "model_version": c.model_version,
        "classified_at": _utc(c.classified_at),
        "spam": routed.spam,
        "spam_reasons": list(routed.spam_reasons),
        "tags": list(routed.tags),
        "team": routed.ticket.team.value if routed.ticket else None,
        "rule_id": routed.rule_id,
        "routed_at": now,
    }


def _ticket_row(t: Ticket) -> dict[str, Any]:
    return {
        "id": t.id,
        "mention_id": t.mention_id,
        "team": t.team.value,
        "priority": t.priority.value,
        "category": t.category.value,
        "brand": t.brand,
        "rule_id": t.rule_id,
        "reasons": list(t.reasons),
        "status": t.status.value,
        "language": t.language,
        "platform": t.platform,
        "tags": list(t.tags),
        "cc": [team.value for team in t.cc],
        "suggested_team": t.suggested_team.value if t.suggested_team else None,
        "first_response_due_at": _utc(t.first_response_due_at),
        "resolution_due_at": _utc(t.resolution_due_at),
        "created_at": _utc(t.created_at),
        "published_at": None,
    }


def _text_key(text: str) -> str | None:
    """Near-exact duplicate key of a text long enough to be a copy."""
    copy = copy_text(text)
    if len(copy) < MIN_CAMPAIGN_TEXT:
        return None
    return hashlib.blake2b(copy.encode("utf-8"), digest_size=16).hexdigest()


def _utc(value: datetime) -> datetime:
    """Store every time in UTC: SQLite keeps no offset, so a post written at
    +02:00 would otherwise compare two hours wrong against the rest."""
    return value.astimezone(timezone.utc)


def _ticket_from_row(row: Any) -> Ticket:
    return Ticket.model_validate(
        {
            "id": row.id,
            "mention_id": row.mention_id,
            "team": row.team,
            "priority": row.priority,
            "rule_id": row.rule_id,
            "reasons": list(row.reasons),
            "status": row.status,
            "category": row.category,
            "brand": row.brand,
            "language": row.language,
            "platform": row.platform,
            "tags": list(row.tags or []),
            "cc": list(row.cc or []),
            "suggested_team": row.suggested_team,
            "first_response_due_at": stored_time(row.first_response_due_at),
            "resolution_due_at": stored_time(row.resolution_due_at),
            "created_at": stored_time(row.created_at),
        },
        strict=False,
    )
