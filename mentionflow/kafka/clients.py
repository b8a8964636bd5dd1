"""Factories for kafka-python clients with settings that hold on any broker.

The group timing is shortened (6 s session, 1 s heartbeat) because with the
default 45 s session the first group join on Tansu stalls for ~23 s, and a
SIGKILLed worker's partitions would sit unowned for most of a minute.
"""

from __future__ import annotations

from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from mentionflow.settings import Settings, get_settings

__all__ = ["make_admin", "make_consumer", "make_producer"]

#: Messages may carry long texts (RSS articles, e-mails); allow up to 16 MiB.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def _security(settings: Settings) -> dict[str, Any]:
    cfg: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    if settings.kafka_sasl_mechanism:
        cfg["sasl_mechanism"] = settings.kafka_sasl_mechanism
        cfg["sasl_plain_username"] = settings.kafka_sasl_username
        if settings.kafka_sasl_password is not None:
            cfg["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return cfg


def make_producer(bootstrap_servers: str, settings: Settings | None = None, **overrides: Any) -> KafkaProducer:
    settings = settings or get_settings()
    cfg: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers,
        "acks": "all",
        "retries": 10,
        "linger_ms": 5,
        "max_request_size": MAX_MESSAGE_BYTES,
        "client_id": "mentionflow",
        **_security(settings),
    }
    cfg.update(overrides)
    return KafkaProducer(**cfg)


def make_consumer(
    bootstrap_servers: str,
    group_id: str,
    topics: list[str],
    settings: Settings | None = None,
    **overrides: Any,
) -> KafkaConsumer:
    settings = settings or get_settings()
    cfg: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": 6000,
        "heartbeat_interval_ms": 1000,
        "max_poll_records": settings.consumer_max_records,
        "max_poll_interval_ms": 300_000,
        "fetch_max_bytes": MAX_MESSAGE_BYTES * 2,
        "max_partition_fetch_bytes": MAX_MESSAGE_BYTES,
        "client_id": f"mentionflow-{group_id}",
        **_security(settings),
    }
    cfg.update(overrides)
    consumer = KafkaConsumer(**cfg)
    consumer.subscribe(topics)
    return consumer


def make_admin(bootstrap_servers: str, settings: Settings | None = None) -> KafkaAdminClient:
    settings = settings or get_settings()
    return KafkaAdminClient(
        bootstrap_servers=bootstrap_servers, client_id="mentionflow-admin", **_security(settings)
    )
