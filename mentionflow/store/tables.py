"""Table definitions. Alembic migrations under ``migrations/`` create them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "ApiTokenRow",
    "Base",
    "BrandStateRow",
    "CategoryFeedbackRow",
    "DeliveryRow",
    "IntakeQueueRow",
    "MentionRow",
    "SourceCursorRow",
    "SourceSeenRow",
    "TicketEventRow",
    "TicketRow",
]


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True), dict[str, Any]: JSON}


class MentionRow(Base):
    """Every classified mention, ticketed or not: reports count the 'other' ones too."""

    __tablename__ = "mentions"

    id: Mapped[str] = mapped_column(String(512), primary_key=True)
    platform: Mapped[str] = mapped_column(String(64))
    native_id: Mapped[str] = mapped_column(String(448))
    brand: Mapped[str] = mapped_column(String(128), index=True)
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    author_handle: Mapped[str] = mapped_column(String(256))
    author_display_name: Mapped[str | None] = mapped_column(String(512))
    author_followers: Mapped[int] = mapped_column(BigInteger)
    author_verified: Mapped[bool] = mapped_column(Boolean)
    url: Mapped[str | None] = mapped_column(String(4096))
    created_at: Mapped[datetime]
    received_at: Mapped[datetime]
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    category: Mapped[str] = mapped_column(String(16), index=True)
    confidence: Mapped[float] = mapped_column(Float)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_version: Mapped[str] = mapped_column(String(128))
    classified_at: Mapped[datetime]
    spam: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    spam_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    team: Mapped[str | None] = mapped_column(String(32))
    rule_id: Mapped[str] = mapped_column(String(128))
    routed_at: Mapped[datetime]
    #: the ticket this mention is on: its own, or the open ticket it was
    #: attached to as a near-duplicate; None when no ticket was made.
    ticket_id: Mapped[str | None] = mapped_column(String(36), index=True)


class TicketRow(Base):
    __tablename__ = "tickets"
    __table_args__ = (Index("ix_tickets_team_status", "team", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    mention_id: Mapped[str] = mapped_column(
        String(512), ForeignKey("mentions.id", ondelete="CASCADE"), unique=True
    )
    team: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(16))
    brand: Mapped[str] = mapped_column(String(128))
    rule_id: Mapped[str] = mapped_column(String(128))
    reasons: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(16))
    platform: Mapped[str | None] = mapped_column(String(64))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    cc: Mapped[list[str]] = mapped_column(JSON, default=list)
    suggested_team: Mapped[str | None] = mapped_column(String(32))
    first_response_due_at: Mapped[datetime]
    resolution_due_at: Mapped[datetime]
    created_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
    assignee: Mapped[str | None] = mapped_column(String(256))
    assigned_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    reopened_at: Mapped[datetime | None]
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    first_response_breached: Mapped[bool] = mapped_column(Boolean, default=False)
    resolution_breached: Mapped[bool] = mapped_column(Boolean, default=False)
    #: near-duplicate mentions attached to this ticket raise the counter
    mention_count: Mapped[int] = mapped_column(Integer, default=1)
    last_mention_at: Mapped[datetime | None]
    author_key: Mapped[str | None] = mapped_column(String(512), index=True)
    text_key: Mapped[str | None] = mapped_column(String(64), index=True)
    updated_at: Mapped[datetime | None]


class TicketEventRow(Base):
    """Append-only audit log: who changed what on a ticket, and when."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(String(36), ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CategoryFeedbackRow(Base):
    """A person's correction of a category: training data for the next model."""

    __tablename__ = "category_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    mention_id: Mapped[str] = mapped_column(String(512), ForeignKey("mentions.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[str | None] = mapped_column(String(36))
    model_category: Mapped[str] = mapped_column(String(16))
    old_category: Mapped[str] = mapped_column(String(16))
    new_category: Mapped[str] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(256))
    at: Mapped[datetime]


class BrandStateRow(Base):
    """A brand's crisis state: set by spike detection, read by ``spike:`` rules."""

    __tablename__ = "brand_states"

    brand: Mapped[str] = mapped_column(String(128), primary_key=True)
    spike: Mapped[bool] = mapped_column(Boolean)
    since: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class SourceCursorRow(Base):
    """Where a listener left off, so a restart neither misses nor repeats."""

    __tablename__ = "source_cursors"

    source: Mapped[str] = mapped_column(String(128), primary_key=True)
    cursor: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime]
    #: when the last poll finished without error; the poll DAG uses it to
    #: decide which sources are due
    polled_at: Mapped[datetime | None]


class SourceSeenRow(Base):
    """Mention ids a source has published, so a re-read page publishes nothing twice.

    Kept for a retention window (pruned by age), long enough to cover any
    overlap between a restart's re-read and what was already published.
    """

    __tablename__ = "source_seen"

    source: Mapped[str] = mapped_column(String(128), primary_key=True)
    mention_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(index=True)


class IntakeQueueRow(Base):
    """A pushed item accepted by the intake service and not yet on Kafka.

    The intake answers the platform once the row is committed (fast, and
    durable), and a background publisher moves rows to Kafka: a crash after
    the answer loses nothing.
    """

    __tablename__ = "intake_queue"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(128))
    mention_id: Mapped[str | None] = mapped_column(String(512))
    #: the Mention as JSON, or the rejected raw payload
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    #: why the payload was rejected; None for a mention
    reason: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime]


class ApiTokenRow(Base):
    """An API token: only its SHA-256 is stored; ``team`` None means admin."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    team: Mapped[str | None] = mapped_column(String(32))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class DeliveryRow(Base):
    """The outbox: one row per ticket and sink, written in the ticket's own
    transaction, so a crash between the write and the send loses nothing;
    the dispatcher sends what is due and records the outcome here."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("ticket_id", "sink", name="uq_deliveries_ticket_sink"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(String(36), ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    sink: Mapped[str] = mapped_column(String(128))
    #: the team the sink was chosen for, and whether it owns the ticket or is cc'd
    team: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(8))
    #: sent with every attempt, so a receiver can drop a resend after a crash
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    #: the message as it was when the ticket was written (sinks render it)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    #: what the receiving system called it: Zendesk ticket id, Slack ts, Message-ID
    external_ref: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
