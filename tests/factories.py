"""Builders for valid contract objects, so tests state only what they vary."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from mentionflow.models import (
    Author,
    Category,
    ClassifiedMention,
    Mention,
    Priority,
    Team,
    Ticket,
    mention_id,
    ticket_id_for,
)
from mentionflow.store import RoutedMention

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


def make_mention(native_id: str = "1", text: str = "my parcel is late again", **over: Any) -> Mention:
    platform = over.pop("platform", "x")
    author = over.pop("author", None) or Author(handle="someone", followers=over.pop("followers", 120))
    data = {
        "id": mention_id(platform, native_id),
        "platform": platform,
        "native_id": native_id,
        "brand": "parcelo",
        "text": text,
        "author": author,
        "created_at": T0,
        "received_at": T0,
        **over,
    }
    return Mention(**data)


def make_classified(mention: Mention | None = None, category: Category = Category.COMPLAINT, confidence: float = 0.9, **over: Any) -> ClassifiedMention:
    mention = mention or make_mention()
    rest = (1.0 - confidence) / 4
    scores = {c: (confidence if c == category else rest) for c in Category}
    return ClassifiedMention(
        mention=mention,
        category=category,
        confidence=confidence,
        scores=scores,
        language=over.pop("language", "en"),
        model_version="test",
        classified_at=T0,
        **over,
    )


def raw_record(native_id: str = "1", **over: Any) -> dict[str, Any]:
    """A source record as a replay file or a platform would describe a post."""
    return {
        "platform": "x",
        "native_id": native_id,
        "brand": "parcelo",
        "text": "where is my parcel?",
        "author": {"handle": "someone", "followers": 10},
        "created_at": "2026-11-20T12:00:00Z",
        **over,
    }


def make_routed(native_id: str, team: Team, cc: tuple[Team, ...] = (), text: str | None = None,
           handle: str | None = None) -> RoutedMention:
    """A complaint routed to ``team`` with a ticket (distinct author and text per id)."""
    mention = make_mention(native_id, text or f"order {native_id} never arrived",
                           author=Author(handle=handle or f"user{native_id}", followers=10))
    c = make_classified(mention, Category.COMPLAINT)
    ticket = Ticket(
        id=ticket_id_for(c.id), mention_id=c.id, team=team, priority=Priority.HIGH, rule_id="complaint",
        reasons=["category is complaint"], category=Category.COMPLAINT, brand="parcelo",
        first_response_due_at=T0 + timedelta(hours=1), resolution_due_at=T0 + timedelta(hours=8),
        created_at=T0, cc=list(cc),
    )
    return RoutedMention(c, "complaint", ticket)
