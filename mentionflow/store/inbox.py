"""The team inbox: reading tickets and moving them through their lifecycle.

    new -> assigned -> responded -> resolved -> reopened -> ...

Every change is one transaction that updates the ticket and appends to the
audit log (who, when, what), so the log can never disagree with the ticket.
Each update is guarded by the status it was decided on: if someone else
changed the ticket in between, the second change fails with a conflict
instead of silently overwriting the first.

Scoping is enforced here, not in the HTTP layer: every call takes the
caller's team (None for an admin), and a ticket of another team is reported
as not found, so its existence does not leak.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, Engine, and_, func, insert, or_, select, update

from mentionflow.models import Category, Priority, Team, TicketStatus, utcnow
from mentionflow.store.db import stored_time
from mentionflow.store.tables import CategoryFeedbackRow, MentionRow, TicketEventRow, TicketRow

__all__ = [
    "Conflict",
    "MentionView",
    "Page",
    "TicketDetail",
    "TicketEvent",
    "TicketFilter",
    "TicketInbox",
    "TicketNotFound",
    "TicketView",
]

_OPEN = (TicketStatus.NEW, TicketStatus.ASSIGNED, TicketStatus.RESPONDED, TicketStatus.REOPENED)


class TicketNotFound(LookupError):
    """No such ticket for this caller (it may exist for another team)."""


class Conflict(ValueError):
    """The change does not apply to the ticket as it is now."""


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class TicketView(_View):
    id: str
    mention_id: str
    team: Team
    status: TicketStatus
    priority: Priority
    category: Category
    brand: str
    language: str | None
    platform: str | None
    tags: list[str]
    cc: list[Team]
    suggested_team: Team | None
    rule_id: str
    reasons: list[str]
    assignee: str | None
    mention_count: int = Field(description="mentions on this ticket, near-duplicates included")
    created_at: datetime
    assigned_at: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    reopened_at: datetime | None
    reopen_count: int
    first_response_due_at: datetime
    resolution_due_at: datetime
    first_response_seconds: float | None
    resolution_seconds: float | None
    first_response_breached: bool = Field(description="responded late, or still unanswered past the due time")
    resolution_breached: bool = Field(description="resolved late, or still open past the due time")


class TicketEvent(_View):
    at: datetime
    actor: str
    action: str
    from_status: TicketStatus | None
    to_status: TicketStatus | None
    details: dict[str, Any]


class MentionView(_View):
    id: str
    platform: str
    brand: str
    text: str
    url: str | None
    language: str | None
    author_handle: str
    author_followers: int
    author_verified: bool
    created_at: datetime
    category: Category = Field(description="the classifier's label")
    confidence: float
    scores: dict[str, float]
    needs_review: bool
    model_version: str
    spam: bool
    spam_reasons: list[str]


class TicketDetail(_View):
    ticket: TicketView
    mention: MentionView
    attached_mentions: list[str] = Field(description="ids of near-duplicate mentions attached to this ticket")
    events: list[TicketEvent]


class Page(_View):
    items: list[TicketView]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class TicketFilter:
    status: TicketStatus | None = None
    priority: Priority | None = None
    category: Category | None = None
    language: str | None = None
    platform: str | None = None
    sla_breached: bool | None = None
    team: Team | None = None  # admins only; a team always sees its own
    limit: int = 50
    offset: int = 0


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (stored_time(end) - stored_time(start)).total_seconds()  # type: ignore[operator]


def _view(row: Any, now: datetime) -> TicketView:
    due_first, due_resolution = stored_time(row.first_response_due_at), stored_time(row.resolution_due_at)
    first, resolved = stored_time(row.first_response_at), stored_time(row.resolved_at)
    return TicketView(
        id=row.id, mention_id=row.mention_id, team=row.team, status=row.status, priority=row.priority,
        category=row.category, brand=row.brand, language=row.language, platform=row.platform,
        tags=list(row.tags or []), cc=list(row.cc or []), suggested_team=row.suggested_team,
        rule_id=row.rule_id, reasons=list(row.reasons or []), assignee=row.assignee,
        mention_count=row.mention_count, created_at=stored_time(row.created_at), assigned_at=stored_time(row.assigned_at),
        first_response_at=first, resolved_at=resolved, reopened_at=stored_time(row.reopened_at),
        reopen_count=row.reopen_count, first_response_due_at=due_first, resolution_due_at=due_resolution,
        first_response_seconds=_seconds(row.created_at, first),
        resolution_seconds=_seconds(row.created_at, resolved),
        first_response_breached=bool(row.first_response_breached) or (first is None and now > due_first),
        resolution_breached=bool(row.resolution_breached) or (resolved is None and now > due_resolution),
    )


def _breached(now: datetime) -> Any:
    return or_(
        TicketRow.first_response_breached.is_(True),
        TicketRow.resolution_breached.is_(True),
        and_(TicketRow.first_response_at.is_(None), TicketRow.first_response_due_at < now),
        and_(TicketRow.resolved_at.is_(None), TicketRow.resolution_due_at < now),
    )


class TicketInbox:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- reads --------------------------------------------------------------
    def list(self, team: Team | None, f: TicketFilter, now: datetime | None = None) -> Page:
        now = now or utcnow()
        conds = []
        if team is not None:
            conds.append(TicketRow.team == team.value)
        elif f.team is not None:
            conds.append(TicketRow.team == f.team.value)
        for column, value in ((TicketRow.status, f.status), (TicketRow.priority, f.priority),
                              (TicketRow.category, f.category), (TicketRow.language, f.language),
                              (TicketRow.platform, f.platform)):
            if value is not None:
                conds.append(column == (value.value if hasattr(value, "value") else value))
        if f.sla_breached is not None:
            conds.append(_breached(now) if f.sla_breached else ~_breached(now))
        where = and_(*conds) if conds else None
        stmt = select(TicketRow.__table__).order_by(TicketRow.created_at.desc(), TicketRow.id)
        count = select(func.count()).select_from(TicketRow)
        if where is not None:
            stmt, count = stmt.where(where), count.where(where)
        with self.engine.connect() as conn:
            total = int(conn.execute(count).scalar_one())
            rows = conn.execute(stmt.limit(f.limit).offset(f.offset)).all()
        return Page(items=[_view(r, now) for r in rows], total=total, limit=f.limit, offset=f.offset)

    def get(self, team: Team | None, ticket_id: str, now: datetime | None = None) -> TicketDetail:
        now = now or utcnow()
        with self.engine.connect() as conn:
            row = self._row(conn, team, ticket_id)
            mention = conn.execute(select(MentionRow.__table__).where(MentionRow.id == row.mention_id)).one()
            attached = conn.execute(
                select(MentionRow.id).where(MentionRow.ticket_id == ticket_id, MentionRow.id != row.mention_id)
                .order_by(MentionRow.created_at)
            ).scalars().all()
            events = conn.execute(
                select(TicketEventRow.__table__).where(TicketEventRow.ticket_id == ticket_id).order_by(TicketEventRow.id)
            ).all()
        return TicketDetail(
            ticket=_view(row, now),
            mention=MentionView(
                id=mention.id, platform=mention.platform, brand=mention.brand, text=mention.text, url=mention.url,
                language=mention.language, author_handle=mention.author_handle,
                author_followers=mention.author_followers, author_verified=mention.author_verified,
                created_at=stored_time(mention.created_at), category=mention.category, confidence=mention.confidence,
                scores=dict(mention.scores), needs_review=mention.needs_review, model_version=mention.model_version,
                spam=mention.spam, spam_reasons=list(mention.spam_reasons or []),
            ),
            attached_mentions=list(attached),
            events=[TicketEvent(at=stored_time(e.at), actor=e.actor, action=e.action, from_status=e.from_status,
                                to_status=e.to_status, details=dict(e.details or {})) for e in events],
        )

    # -- lifecycle ------------------------------------------------------------
    def claim(self, team: Team | None, ticket_id: str, actor: str, assignee: str | None = None) -> TicketView:
        """Take the ticket (or give it to ``assignee``)."""
        who = assignee or actor

        def change(row: Any, now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
            self._require(row, {TicketStatus.NEW, TicketStatus.ASSIGNED, TicketStatus.REOPENED}, "claim")
            if row.assignee == who and row.status == TicketStatus.ASSIGNED:
                raise Conflict(f"ticket is already assigned to {who}")
            return ({"status": TicketStatus.ASSIGNED.value, "assignee": who, "assigned_at": now},
                    {"assignee": who, "previous_assignee": row.assignee})

        return self._change(team, ticket_id, actor, "claimed", change)

    def respond(self, team: Team | None, ticket_id: str, actor: str, note: str | None = None) -> TicketView:
        """Record that the author was answered; the first response stops the first-response clock."""

        def change(row: Any, now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
            self._require(row, set(_OPEN), "respond to")
            values: dict[str, Any] = {"status": TicketStatus.RESPONDED.value}
            if row.first_response_at is None:
                values["first_response_at"] = now
                values["first_response_breached"] = now > stored_time(row.first_response_due_at)  # type: ignore[operator]
            if row.assignee is None:
                values["assignee"], values["assigned_at"] = actor, now
            return values, {"note": note} if note else {}

        return self._change(team, ticket_id, actor, "responded", change)

    def resolve(self, team: Team | None, ticket_id: str, actor: str, note: str | None = None) -> TicketView:
        def change(row: Any, now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
            self._require(row, set(_OPEN), "resolve")
            breached = bool(row.resolution_breached) or now > stored_time(row.resolution_due_at)  # type: ignore[operator]
            return {"status": TicketStatus.RESOLVED.value, "resolved_at": now, "resolution_breached": breached}, (
                {"note": note} if note else {})

        return self._change(team, ticket_id, actor, "resolved", change)

    def reopen(self, team: Team | None, ticket_id: str, actor: str, reason: str | None = None) -> TicketView:
        def change(row: Any, now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
            self._require(row, {TicketStatus.RESOLVED}, "reopen")
            return ({"status": TicketStatus.REOPENED.value, "reopened_at": now, "resolved_at": None,
                     "reopen_count": row.reopen_count + 1}, {"reason": reason} if reason else {})

        return self._change(team, ticket_id, actor, "reopened", change)

    def reroute(self, team: Team | None, ticket_id: str, actor: str, to: Team, reason: str | None = None) -> TicketView:
        """Hand the ticket to another team: it arrives there unassigned."""

        def change(row: Any, now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
            self._require(row, set(_OPEN), "reroute")
            if row.team == to.value:
                raise Conflict(f"ticket is already with {to.value}")
            status = TicketStatus.NEW if row.status == TicketStatus.ASSIGNED else TicketStatus(row.status)
            return ({"team": to.value, "assignee": None, "assigned_at": None, "status": status.value},
                    {"from_team": row.team, "to_team": to.value, **({"reason": reason} if reason else {})})

        def also(conn: Connection, row: Any) -> None:
            conn.execute(update(MentionRow).where(MentionRow.ticket_id == row.id).values(team=to.value))

        return self._change(team, ticket_id, actor, "rerouted", change, also)

    def relabel(self, team: Team | None, ticket_id: str, actor: str, category: Category) -> TicketView:
        """Correct the category; the correction is kept as training feedback."""

        def change(row: Any, now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
            if row.category == category.value:
                raise Conflict(f"ticket is already labelled {category.value}")
            return {"category": category.value}, {"from_category": row.category, "to_category": category.value}

        def also(conn: Connection, row: Any) -> None:
            mention = conn.execute(
                select(MentionRow.id, MentionRow.category, MentionRow.language, MentionRow.text)
                .where(MentionRow.id == row.mention_id)
            ).one()
            conn.execute(insert(CategoryFeedbackRow).values(
                mention_id=mention.id, ticket_id=row.id, model_category=mention.category, old_category=row.category,
                new_category=category.value, language=mention.language, text=mention.text, actor=actor, at=utcnow(),
            ))

        return self._change(team, ticket_id, actor, "relabelled", change, also)

    # -- plumbing -------------------------------------------------------------
    @staticmethod
    def _row(conn: Connection, team: Team | None, ticket_id: str) -> Any:
        stmt = select(TicketRow.__table__).where(TicketRow.id == ticket_id)
        if team is not None:
            stmt = stmt.where(TicketRow.team == team.value)
        row = conn.execute(stmt).first()
        if row is None:
            raise TicketNotFound(ticket_id)
        return row

    @staticmethod
    def _require(row: Any, allowed: set[TicketStatus], verb: str) -> None:
        if TicketStatus(row.status) not in allowed:
            raise Conflict(f"cannot {verb} a ticket that is {row.status}")

    def _change(self, team: Team | None, ticket_id: str, actor: str, action: str, change: Any,
                also: Any = None) -> TicketView:
        now = utcnow()
        with self.engine.begin() as conn:
            row = self._row(conn, team, ticket_id)
            values, details = change(row, now)
            done = conn.execute(
                update(TicketRow)
                .where(TicketRow.id == ticket_id, TicketRow.status == row.status, TicketRow.team == row.team,
                       TicketRow.updated_at.is_(None) if row.updated_at is None else TicketRow.updated_at == row.updated_at)
                .values(**values, updated_at=now)
            ).rowcount
            if not done:
                raise Conflict("ticket was changed by someone else; reload and try again")
            if also is not None:
                also(conn, row)
            conn.execute(insert(TicketEventRow).values(
                ticket_id=ticket_id, at=now, actor=actor, action=action, from_status=row.status,
                to_status=values.get("status", row.status), details=details,
            ))
            fresh = conn.execute(select(TicketRow.__table__).where(TicketRow.id == ticket_id)).one()
        return _view(fresh, now)
