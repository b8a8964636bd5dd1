"""Zendesk: create the ticket through the Tickets API.

``POST /api/v2/tickets.json`` with API-token basic auth
(``{email}/token:{api_token}``). Zendesk honours an ``Idempotency-Key``
header on ticket creation (a repeat returns the first response, marked
``x-idempotency-lookup: hit``), and the Mentionflow ticket id is sent as
``external_id``, so a resend after a crash does not open a second ticket.
"""

from __future__ import annotations

import re

import httpx

from mentionflow.models import Category
from mentionflow.store.outbox import Delivery
from routing.delivery.config import ZendeskSink, secret
from routing.delivery.message import TicketMessage
from routing.delivery.sinks.base import PermanentSendError, RetryableSendError, error_for_status

__all__ = ["ZendeskSender"]

#: Zendesk ticket types are problem, incident, question and task
_TYPES = {Category.COMPLAINT: "incident", Category.QUESTION: "question"}
_TAG_UNSAFE = re.compile(r"[^a-z0-9_:/.-]+")


def _tag(value: str) -> str:
    """Zendesk tags are lower case without spaces."""
    return _TAG_UNSAFE.sub("_", value.casefold()).strip("_")[:80]


class ZendeskSender:
    def __init__(self, name: str, config: ZendeskSink) -> None:
        self.name = name
        self._config = config
        self._endpoint = str(config.url).rstrip("/") + "/api/v2/tickets.json"
        auth = (f"{secret(config.email_env, name)}/token", secret(config.token_env, name))
        self._client = httpx.Client(timeout=config.timeout_s, auth=auth, follow_redirects=False)

    def send(self, delivery: Delivery, message: TicketMessage) -> str | None:
        tags = ["mentionflow", _tag(message.category.value), _tag(message.team.value), *map(_tag, message.tags)]
        ticket: dict[str, object] = {
            "subject": message.subject,
            "comment": {"body": message.as_text(), "public": False},
            "priority": message.priority.value,
            "type": _TYPES.get(message.category, "task"),
            "tags": sorted({t for t in tags if t}),
            "external_id": message.ticket_id,
        }
        if self._config.group_id is not None:
            ticket["group_id"] = self._config.group_id
        try:
            response = self._client.post(
                self._endpoint, json={"ticket": ticket}, headers={"Idempotency-Key": delivery.idempotency_key}
            )
        except httpx.HTTPError as exc:
            raise RetryableSendError(f"Zendesk {self._endpoint}: {type(exc).__name__}: {exc}") from exc
        if response.status_code in (200, 201):
            try:
                return str(response.json()["ticket"]["id"])
            except (ValueError, KeyError, TypeError) as exc:
                raise PermanentSendError(f"Zendesk answered {response.status_code} without a ticket id") from exc
        raise error_for_status(response.status_code, response.headers, "Zendesk", response.text)

    def close(self) -> None:
        self._client.close()
