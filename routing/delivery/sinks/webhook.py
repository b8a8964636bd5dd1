"""Signed outgoing webhooks: a JSON POST per ticket.

Each attempt is signed afresh (``Mentionflow-Signature``, see
``mentionflow.webhook_signing``) and carries the same ``Idempotency-Key``;
a receiver keeps the keys it has processed and answers 2xx to a repeat
without acting on it. That is what turns at-least-once sending (a
dispatcher can die after the receiver acted but before recording it) into
one ticket on the receiver's side.
"""

from __future__ import annotations

import json

import httpx

from mentionflow.store.outbox import Delivery
from mentionflow.webhook_signing import SIGNATURE_HEADER, signature_header
from routing.delivery.config import WebhookSink, secret
from routing.delivery.message import TicketMessage
from routing.delivery.sinks.base import RetryableSendError, error_for_status

__all__ = ["WebhookSender"]

USER_AGENT = "Mentionflow-Webhook/1"


class WebhookSender:
    def __init__(self, name: str, config: WebhookSink) -> None:
        self.name = name
        self._url = str(config.url)
        self._secret = secret(config.secret_env, name)
        self._client = httpx.Client(timeout=config.timeout_s, follow_redirects=False)

    def send(self, delivery: Delivery, message: TicketMessage) -> str | None:
        body = json.dumps(
            {"delivery_id": delivery.idempotency_key, "event": message.event, "ticket": message.model_dump(mode="json")},
            ensure_ascii=False, separators=(",", ":"),
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Idempotency-Key": delivery.idempotency_key,
            "Mentionflow-Event": message.event,
            SIGNATURE_HEADER: signature_header(self._secret, body),
        }
        try:
            response = self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise RetryableSendError(f"webhook {self._url}: {type(exc).__name__}: {exc}") from exc
        if response.is_success:
            return response.headers.get("x-request-id")
        raise error_for_status(response.status_code, response.headers, f"webhook {self._url}", response.text)

    def close(self) -> None:
        self._client.close()
