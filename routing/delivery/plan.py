"""Which sinks a new ticket goes to: the owner's, then each cc'd team's."""

from __future__ import annotations

from mentionflow.store import RoutedMention
from mentionflow.store.outbox import OutboxEntry
from routing.delivery.config import DeliveryConfig
from routing.delivery.message import message_for

__all__ = ["DeliveryPlan"]


class DeliveryPlan:
    """Called by the store, inside the ticket's transaction, for each new ticket."""

    def __init__(self, config: DeliveryConfig) -> None:
        self.config = config

    def __call__(self, routed: RoutedMention) -> list[OutboxEntry]:
        ticket = routed.ticket
        if ticket is None:
            return []
        entries: list[OutboxEntry] = []
        for team, role in [(ticket.team, "owner"), *((t, "cc") for t in ticket.cc)]:
            sinks = self.config.sinks_for(team)
            if not sinks:
                continue
            payload = message_for(routed, ticket, team, role, self.config.link).model_dump(mode="json")
            entries.extend(OutboxEntry(sink=sink, team=team.value, role=role, payload=payload) for sink in sinks)
        return entries
