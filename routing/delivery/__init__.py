"""Delivery of tickets to the tools teams work in: outbox, sinks, dispatcher.

The router writes a ticket and its outbox rows in one transaction
(``DeliveryPlan``); the dispatcher (``mentionflow deliver``) sends them,
retrying with backoff, and records each outcome. Kafka ``tickets.<team>``
is published by the router itself and needs no configuration.
"""

from routing.delivery.config import DeliveryConfig, MissingSecret, RetryPolicy, load_delivery_config
from routing.delivery.dispatcher import Dispatcher
from routing.delivery.message import TicketMessage
from routing.delivery.plan import DeliveryPlan

__all__ = [
    "DeliveryConfig",
    "DeliveryPlan",
    "Dispatcher",
    "MissingSecret",
    "RetryPolicy",
    "TicketMessage",
    "load_delivery_config",
]
