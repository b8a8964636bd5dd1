"""What a sink says about a ticket: one snapshot, taken when the ticket is written.

The snapshot is stored in the outbox row, so what a team receives describes
the ticket as it was routed, however late the delivery, and a sink never
has to read the store. Mention text is the author's, from the internet: each
sink escapes it for its own format; nothing here trusts it.
"""

from __future__ import annotations

from datetime import datetime, timezone

from pydantic import BaseModel, ConfigDict

from mentionflow.models import Category, Priority, Team, Ticket
from mentionflow.store import RoutedMention

__all__ = ["MentionSnapshot", "TicketMessage", "message_for", "utc_minutes"]

#: long posts are cut in messages (the whole text stays in the store and the API)
MAX_MESSAGE_TEXT = 3000


class MentionSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    platform: str
    text: str
    url: str | None
    author_handle: str
    author_name: str | None
    author_followers: int
    author_verified: bool
    created_at: datetime


class TicketMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    event: str = "ticket.created"
    ticket_id: str
    #: the team this delivery is for; ``owner`` is the team that owns the ticket
    team: Team
    role: str
    owner: Team
    priority: Priority
    category: Category
    confidence: float
    needs_review: bool
    brand: str
    language: str | None
    rule_id: str
    reasons: list[str]
    tags: list[str]
    suggested_team: Team | None
    first_response_due_at: datetime
    resolution_due_at: datetime
    created_at: datetime
    link: str
    mention: MentionSnapshot

    @property
    def subject(self) -> str:
        """One line: what kind of ticket, how urgent, about whom."""
        cc = " (cc)" if self.role == "cc" else ""
        return _one_line(f"[{self.priority.value}] {self.category.value} about {self.brand} "
                         f"on {self.mention.platform} from @{self.mention.author_handle}{cc}")

    @property
    def excerpt(self) -> str:
        text = self.mention.text
        return text if len(text) <= MAX_MESSAGE_TEXT else text[:MAX_MESSAGE_TEXT] + "…"

    def as_text(self) -> str:
        """Plain text for email bodies and helpdesk comments."""
        m = self.mention
        author = f"@{_one_line(m.author_handle)}" + (f" ({_one_line(m.author_name)})" if m.author_name else "")
        lines = [self.subject, "", f"Open the ticket: {self.link}", "",
                 f"{author}, {m.author_followers} followers, on {m.platform}:", "", self.excerpt, ""]
        if m.url:
            lines += [f"Original post: {m.url}", ""]
        lines += [
            f"Why this team: rule {self.rule_id}: {'; '.join(self.reasons)}",
            f"First response due: {utc_minutes(self.first_response_due_at)}",
            f"Resolution due: {utc_minutes(self.resolution_due_at)}",
        ]
        return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    """Untrusted names in one line: no header injection through CR/LF."""
    return " ".join(text.split())


def utc_minutes(value: datetime) -> str:
    """A due time as a person reads it in a message: to the minute, in UTC."""
    return f"{value.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC"


def message_for(routed: RoutedMention, ticket: Ticket, team: Team, role: str, link_template: str) -> TicketMessage:
    c = routed.classified
    m = c.mention
    return TicketMessage(
        ticket_id=ticket.id,
        team=team,
        role=role,
        owner=ticket.team,
        priority=ticket.priority,
        category=ticket.category,
        confidence=round(c.confidence, 4),
        needs_review=c.needs_review,
        brand=ticket.brand,
        language=ticket.language,
        rule_id=ticket.rule_id,
        reasons=list(ticket.reasons),
        tags=list(ticket.tags),
        suggested_team=ticket.suggested_team,
        first_response_due_at=ticket.first_response_due_at,
        resolution_due_at=ticket.resolution_due_at,
        created_at=ticket.created_at,
        link=link_template.replace("{ticket_id}", ticket.id),
        mention=MentionSnapshot(
            id=m.id,
            platform=m.platform,
            text=m.text,
            url=m.url,
            author_handle=m.author.handle,
            author_name=m.author.display_name,
            author_followers=m.author.followers,
            author_verified=m.author.verified,
            created_at=m.created_at,
        ),
    )
