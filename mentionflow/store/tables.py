"""Table definitions. Alembic migrations under ``migrations/`` create them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "BrandStateRow", "MentionRow", "SourceCursorRow", "TicketRow"]


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
