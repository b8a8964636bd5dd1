"""Slack: one message per ticket in the team's channel, through ``slack_sdk``.

``chat.postMessage`` has no idempotency key. Each message therefore carries
Slack message metadata naming its delivery, and any attempt after the first
reads the channel's recent history (``conversations.history`` with
``include_all_metadata``) before posting: a message a dead dispatcher had
already posted is found and not posted again. The bot needs the
``chat:write`` and ``channels:history`` (or ``groups:history``) scopes.
"""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from mentionflow.store.outbox import Delivery
from routing.delivery.config import SlackSink, secret
from routing.delivery.message import TicketMessage, utc_minutes
from routing.delivery.sinks.base import PermanentSendError, RetryableSendError, SendError, retry_after_s

__all__ = ["SlackSender", "escape_mrkdwn"]

METADATA_EVENT = "mentionflow_ticket"
#: errors a retry cannot cure: https://api.slack.com/methods/chat.postMessage#errors
PERMANENT_ERRORS = frozenset({
    "account_inactive", "channel_not_found", "invalid_auth", "invalid_blocks", "is_archived", "missing_scope",
    "no_permission", "not_authed", "not_in_channel", "restricted_action", "token_expired", "token_revoked",
    "ekm_access_denied", "invalid_metadata_format", "invalid_metadata_schema", "msg_too_long",
})


def escape_mrkdwn(text: str) -> str:
    """Slack's three control characters: without this a post could ping
    ``<!channel>`` or dress a phishing link as ``<https://evil|your bank>``."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackSender:
    def __init__(self, name: str, config: SlackSink) -> None:
        self.name = name
        self._channel = config.channel
        self._client = WebClient(
            token=secret(config.token_env, name), base_url=str(config.base_url), timeout=int(config.timeout_s),
            retry_handlers=[],  # the dispatcher owns retries and their schedule
        )

    def send(self, delivery: Delivery, message: TicketMessage) -> str | None:
        if delivery.attempts > 0:
            already = self._posted_ts(delivery)
            if already:
                return already
        try:
            response = self._client.chat_postMessage(
                channel=self._channel,
                text=f"{message.subject}: {message.link}",
                blocks=_blocks(message),
                metadata={"event_type": METADATA_EVENT,
                          "event_payload": {"delivery": delivery.idempotency_key, "ticket_id": message.ticket_id}},
                unfurl_links=False,
                unfurl_media=False,
            )
        except (SlackApiError, SlackRequestError, OSError) as exc:
            raise _send_error(exc) from exc
        return str(response.get("ts")) if response.get("ts") else None

    def _posted_ts(self, delivery: Delivery) -> str | None:
        oldest = f"{delivery.created_at.timestamp() - 60:.6f}"
        cursor: str | None = None
        try:
            while True:
                page = self._client.conversations_history(
                    channel=self._channel, oldest=oldest, include_all_metadata=True, limit=200, cursor=cursor
                )
                for msg in page.get("messages") or []:
                    meta = msg.get("metadata") or {}
                    payload = meta.get("event_payload") or {}
                    if meta.get("event_type") == METADATA_EVENT and payload.get("delivery") == delivery.idempotency_key:
                        return str(msg.get("ts"))
                cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
                if not cursor:
                    return None
        except (SlackApiError, SlackRequestError, OSError) as exc:
            raise _send_error(exc) from exc

    def close(self) -> None:
        pass


def _send_error(exc: Exception) -> SendError:
    if isinstance(exc, SlackApiError):
        code = str(exc.response.get("error", "unknown_error"))
        status = exc.response.status_code
        message = f"Slack API error {code} (HTTP {status})"
        if code in PERMANENT_ERRORS:
            return PermanentSendError(message)
        return RetryableSendError(message, retry_after_s(exc.response.headers or {}))
    return RetryableSendError(f"Slack unreachable: {type(exc).__name__}: {exc}")


def _blocks(message: TicketMessage) -> list[dict[str, Any]]:
    author = escape_mrkdwn(f"@{message.mention.author_handle}")
    if message.mention.author_name:
        author += f" ({escape_mrkdwn(message.mention.author_name)})"
    quoted = "\n".join(f"> {line}" for line in escape_mrkdwn(message.excerpt).splitlines() or [""])
    header = f"*<{message.link}|{escape_mrkdwn(message.subject)}>*"
    context = [
        f"rule `{escape_mrkdwn(message.rule_id)}`: {escape_mrkdwn('; '.join(message.reasons))}",
        f"first response due {utc_minutes(message.first_response_due_at)}",
    ]
    url = message.mention.url
    if url and url.startswith(("https://", "http://")):
        context.append(f"<{escape_mrkdwn(url).replace('|', '%7C')}|original post>")
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{header}\n{author}, {message.mention.author_followers} followers\n{quoted}"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": c} for c in context]},
    ]
