"""Builders for valid contract objects, so tests state only what they vary."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from mentionflow.models import Author, Category, ClassifiedMention, Mention, mention_id

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
