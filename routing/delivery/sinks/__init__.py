"""Sinks: where tickets are delivered besides Kafka."""

from __future__ import annotations

from routing.delivery.config import DeliveryConfig, EmailSink, SinkConfig, SlackSink, WebhookSink, ZendeskSink
from routing.delivery.sinks.base import PermanentSendError, RetryableSendError, SendError, Sink
from routing.delivery.sinks.email import EmailSender
from routing.delivery.sinks.slack import SlackSender
from routing.delivery.sinks.webhook import WebhookSender
from routing.delivery.sinks.zendesk import ZendeskSender

__all__ = [
    "EmailSender",
    "PermanentSendError",
    "RetryableSendError",
    "SendError",
    "Sink",
    "SlackSender",
    "WebhookSender",
    "ZendeskSender",
    "build_sink",
    "build_sinks",
]


def build_sink(name: str, config: SinkConfig) -> Sink:
    if isinstance(config, WebhookSink):
        return WebhookSender(name, config)
    if isinstance(config, SlackSink):
        return SlackSender(name, config)
    if isinstance(config, EmailSink):
        return EmailSender(name, config)
    if isinstance(config, ZendeskSink):
        return ZendeskSender(name, config)
    raise TypeError(f"no sender for {type(config).__name__}")


def build_sinks(config: DeliveryConfig) -> dict[str, Sink]:
    """Every configured sink; raises MissingSecret naming the first unset variable."""
    return {name: build_sink(name, sink) for name, sink in config.sinks.items()}
