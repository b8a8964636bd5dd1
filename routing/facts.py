"""What rules can test about a mention, from a typed message or a loose record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, TypeAdapter, ValidationError

from classifiers.spam import spam_signals
from mentionflow.models import Author, Category, ClassifiedMention

__all__ = ["MentionFacts"]

_WHEN = TypeAdapter(AwareDatetime)


@dataclass(frozen=True)
class MentionFacts:
    """The facts of one mention, independent of where it came from.

    ``spam`` comes from the spam detector and ``spike`` from the store's
    crisis state for the brand; both default to false so that rules can be
    evaluated (and simulated) without either.
    """

    category: Category
    confidence: float
    needs_review: bool = False
    language: str | None = None
    platform: str | None = None
    brand: str | None = None
    followers: int = 0
    verified: bool = False
    text: str = ""
    created_at: datetime | None = None
    spam_reasons: tuple[str, ...] = ()
    spike: bool = False

    @property
    def spam(self) -> bool:
        return bool(self.spam_reasons)

    @classmethod
    def of(cls, c: ClassifiedMention, *, spike: bool = False) -> MentionFacts:
        m = c.mention
        return cls(
            category=c.category,
            confidence=c.confidence,
            needs_review=c.needs_review,
            language=c.language or m.language,
            platform=m.platform,
            brand=m.brand,
            followers=m.author.followers,
            verified=m.author.verified,
            text=m.text,
            created_at=m.created_at,
            spam_reasons=tuple(spam_signals(m.text, m.author)),
            spike=spike,
        )

    @classmethod
    def from_record(cls, item: dict[str, Any], *, spiking_brands: frozenset[str] = frozenset()) -> MentionFacts:
        """Facts from a loosely typed line of ``mentionflow classify`` output
        (what ``route`` and ``rules simulate`` read); ValueError names the bad field."""
        raw_category = item.get("category")
        try:
            category = Category(raw_category)
        except ValueError:
            raise ValueError(f"unknown category {raw_category!r}") from None
        author = item.get("author") if isinstance(item.get("author"), dict) else {}
        followers = author.get("followers", item.get("followers", 0)) or 0
        if isinstance(followers, str) and followers.strip().isdigit():
            followers = int(followers)
        if not isinstance(followers, int) or isinstance(followers, bool) or followers < 0:
            raise ValueError(f"author.followers must be a non-negative integer, got {followers!r}")
        confidence = item.get("confidence", 1.0)
        if not isinstance(confidence, int | float) or isinstance(confidence, bool):
            raise ValueError(f"confidence must be a number, got {confidence!r}")
        created_at = None
        if item.get("created_at") is not None:
            try:
                created_at = _WHEN.validate_python(item["created_at"])
            except ValidationError:
                raise ValueError(f"created_at must be an ISO 8601 time with a zone, got {item['created_at']!r}") from None
        language = item.get("language") or item.get("lang")
        text = item.get("text") if isinstance(item.get("text"), str) else ""
        handle = author.get("handle") if isinstance(author.get("handle"), str) and author.get("handle") else "unknown"
        verified = author.get("verified", False) is True
        brand = item.get("brand") if isinstance(item.get("brand"), str) else None
        return cls(
            category=category,
            confidence=float(confidence),
            needs_review=item.get("needs_review") is True,
            language=language if isinstance(language, str) else None,
            platform=item.get("platform") if isinstance(item.get("platform"), str) else None,
            brand=brand,
            followers=followers,
            verified=verified,
            text=text,
            created_at=created_at,
            spam_reasons=tuple(spam_signals(text, Author(handle=handle[:256], followers=followers, verified=verified))) if text else (),
            spike=brand is not None and brand.casefold() in spiking_brands,
        )
