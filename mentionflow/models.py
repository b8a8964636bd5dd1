"""Data contracts shared by listeners, classifiers, routing and the store.

Every message on a Kafka topic is one of these models serialised as JSON.
They are strict (no coercion, no unknown fields) because the pipeline's
inputs come from the internet: a field of the wrong type is a defect of the
producer and belongs in the dead-letter topic, not silently "fixed".
Each model carries ``schema_version`` so consumers can reject or migrate
messages written by a newer producer instead of misreading them.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "Author",
    "Category",
    "ClassifiedMention",
    "Mention",
    "Priority",
    "Team",
    "Ticket",
    "TicketStatus",
    "mention_id",
    "ticket_id_for",
    "utcnow",
]

#: Largest text accepted in a mention. Long-form sources (RSS, e-mail) can be
#: large, but a post beyond this is almost certainly garbage or an attack.
MAX_TEXT_CHARS = 2_000_000


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def mention_id(platform: str, native_id: str) -> str:
    """The stable id of a mention: the same post always gets the same id."""
    return f"{platform}:{native_id}"


_TICKET_NAMESPACE = uuid.UUID("6f1c1d36-8f0e-4a55-9d55-2a4f4e0f7c11")


def ticket_id_for(mention: str) -> str:
    """Ticket ids derive from the mention id, so a re-delivered mention
    produces the same ticket id and idempotent inserts stay idempotent."""
    return str(uuid.uuid5(_TICKET_NAMESPACE, mention))


class Category(StrEnum):
    COMPLAINT = "complaint"
    QUESTION = "question"
    PRAISE = "praise"
    LEAD = "lead"
    OTHER = "other"


class Team(StrEnum):
    CUSTOMER_SERVICE = "customer_service"
    PR = "pr"
    SALES = "sales"
    MARKETING = "marketing"
    #: the human review queue: uncertain or sensitive mentions a person
    #: looks at before they reach a team.
    REVIEW = "review"


class Priority(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class TicketStatus(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    RESPONDED = "responded"
    RESOLVED = "resolved"
    REOPENED = "reopened"


class _Contract(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Author(_Contract):
    handle: str = Field(min_length=1, max_length=256)
    display_name: str | None = Field(default=None, max_length=512)
    followers: int = Field(default=0, ge=0)
    verified: bool = False


class Mention(_Contract):
    """One post, comment or message that mentions a brand."""

    schema_version: Literal[1] = 1
    id: str = Field(min_length=3, max_length=512, description="platform:native_id")
    platform: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")
    native_id: str = Field(min_length=1, max_length=448)
    brand: str = Field(min_length=1, max_length=128)
    text: str = Field(max_length=MAX_TEXT_CHARS)
    language: str | None = Field(default=None, max_length=16)
    author: Author
    url: str | None = Field(default=None, max_length=4096)
    created_at: AwareDatetime
    received_at: AwareDatetime
    raw: dict[str, Any] | None = Field(default=None, description="the source payload, for audit")

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is empty")
        return value

    @model_validator(mode="after")
    def _id_matches_source(self) -> Mention:
        expected = mention_id(self.platform, self.native_id)
        if self.id != expected:
            raise ValueError(f"id must be {expected!r} (platform:native_id), got {self.id!r}")
        return self


class ClassifiedMention(_Contract):
    """A mention with the classifier's verdict."""

    schema_version: Literal[1] = 1
    mention: Mention
    category: Category
    confidence: float = Field(ge=0.0, le=1.0)
    scores: dict[Category, float]
    language: str | None = Field(default=None, description="detected language (ISO 639-1)")
    needs_review: bool = Field(default=False, description="confidence below the review threshold")
    model_version: str
    classified_at: AwareDatetime

    @property
    def id(self) -> str:
        return self.mention.id


class Ticket(_Contract):
    """A unit of work for a team, as announced to its sinks.

    Its id derives from the mention that opened it; near-duplicate mentions
    (retweets, copy-paste campaigns, one author posting again) attach to the
    open ticket instead of opening new ones, so a ticket covers
    ``mention_count`` mentions. Lifecycle state (assignee, responses,
    resolution) lives in the store; this is what the ticket was created as.
    """

    schema_version: Literal[1] = 1
    id: str
    mention_id: str
    team: Team
    priority: Priority
    rule_id: str
    reasons: list[str]
    status: TicketStatus = TicketStatus.NEW
    category: Category
    brand: str
    language: str | None = None
    platform: str | None = None
    tags: list[str] = Field(default_factory=list)
    cc: list[Team] = Field(default_factory=list, description="teams notified besides the owner")
    suggested_team: Team | None = Field(default=None, description="for review tickets: where the rule would send it")
    first_response_due_at: AwareDatetime
    resolution_due_at: AwareDatetime
    created_at: AwareDatetime
