"""Crashes and outages between a ticket and its teams' tools lose nothing and
send nothing twice.

Real broker, real PostgreSQL, real worker processes and real receivers (a
signed-webhook endpoint, the Slack Web API, the Zendesk Tickets API, an SMTP
server), all local.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
import yaml
from sqlalchemy import select

from listeners import MentionPublisher, ReplayListener, run_listener
from mentionflow.kafka import make_producer
from mentionflow.models import Mention, Team
from mentionflow.settings import PROJECT_ROOT, Settings
from mentionflow.stack.local import LocalStack
from mentionflow.store import TicketStore, make_engine, migrate
from mentionflow.store.outbox import Outbox
from mentionflow.store.tables import DeliveryRow, TicketRow
from routing.delivery import DeliveryConfig, DeliveryPlan, Dispatcher
from routing.delivery.sinks import build_sinks
from tests.factories import make_routed
from tests.fakes.delivery import SECRETS, Receivers, config_document, make_receivers
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SAMPLE = PROJECT_ROOT / "listeners" / "samples" / "sample_mentions.jsonl"


def outbox_rows(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(select(DeliveryRow.__table__)).all()


def assert_each_delivered_exactly_once(engine, receivers: Receivers, config: DeliveryConfig) -> None:
    """Every ticket reached every sink its team and cc's use, once: checked
    against what the receivers hold, not against what the outbox claims."""
    with engine.connect() as conn:
        tickets = conn.execute(select(TicketRow.id, TicketRow.team, TicketRow.cc)).all()
    expected: dict[str, set[str]] = {}
    for t in tickets:
        for team in [t.team, *t.cc]:
            for sink in config.teams.get(team, []):
                expected.setdefault(sink, set()).add(t.id)
    rows = outbox_rows(engine)
    assert {r.status for r in rows} == {"delivered"}, Counter(r.status for r in rows)
    assert {s: {r.ticket_id for r in rows if r.sink == s} for s in expected} == expected

    hook = Counter(body["ticket"]["ticket_id"] for body in receivers.webhook.accepted.values())
    slack = Counter(m["metadata"]["event_payload"]["ticket_id"] for m in receivers.slack.messages)
    desk = Counter(t["external_id"] for t in receivers.zendesk.tickets)
    mail = Counter(m["X-Mentionflow-Ticket"] for m in receivers.smtp.messages)
    for sink, got in (("crm-hook", hook), ("support-slack", slack), ("support-desk", desk), ("pr-mail", mail)):
        assert set(got) == expected[sink], sink
        assert max(got.values()) == 1, f"{sink} got a ticket twice: {got.most_common(3)}"


def test_router_and_dispatcher_killed_mid_way_every_ticket_reaches_every_sink_once(
    pg_database, tmp_path, monkeypatch
):
    receivers = make_receivers().start()
    config_path = tmp_path / "delivery.yaml"
    config_path.write_text(yaml.safe_dump(config_document(
        receivers, retry={"initial_s": 0.5, "max_s": 4, "max_attempts": 50, "jitter": 0.5})))
    for k, v in {**SECRETS, "MENTIONFLOW_DELIVERY_FILE": str(config_path), "MENTIONFLOW_DELIVERY_LEASE_S": "5"}.items():
        monkeypatch.setenv(k, v)
    config = DeliveryConfig.model_validate(yaml.safe_load(config_path.read_text()))
    settings = Settings(database_url=pg_database, bootstrap_servers=None, var_dir=tmp_path)
    try:
        with LocalStack(settings, tmp_path / "run") as stack:
            stack.start(classifiers=1, routers=1, dispatchers=0)
            listener = ReplayListener("delivery-crash", SAMPLE)
            ids = {m.id for m in listener.poll(None) if isinstance(m, Mention)}
            producer = make_producer(stack.bootstrap_servers)
            assert run_listener(listener, MentionPublisher(producer), None, use_cursor=False).published == len(ids)
            producer.close()
            engine = stack.store.engine

            # 1. The router dies with tickets written and none of them sent anywhere yet.
            _, router = stack.workers
            wait_until(lambda: len(stack.store.routed_ids(ids)) >= len(ids) // 3, 300, "a third routed", stack)
            router.kill()
            stack.workers.remove(router)
            written = len(outbox_rows(engine))
            assert written > 0 and all(r.status == "pending" for r in outbox_rows(engine))
            stack.start_worker("route", 1)
            wait_until(lambda: len(stack.store.routed_ids(ids)) == len(ids), 300, "everything routed", stack)

            # 2. The dispatcher dies while a webhook it sent is being answered:
            #    the receiver acted, the outbox never heard back.
            arrived, release = threading.Event(), threading.Event()

            def hold_first(_request) -> None:
                if not arrived.is_set():
                    arrived.set()
                    release.wait(30)

            receivers.webhook.on_accept = hold_first
            dispatcher = stack.start_worker("deliver", 0)
            wait_until(arrived.is_set, 120, "the first webhook", stack)
            dispatcher.kill()
            stack.workers.remove(dispatcher)
            release.set()
            stack.start_worker("deliver", 1)
            wait_until(lambda: all(r.status == "delivered" for r in outbox_rows(engine)), 300, "all delivered", stack)

            assert_each_delivered_exactly_once(engine, receivers, config)
            # the killed attempt was sent again, with its key, and dropped by the receiver
            assert receivers.webhook.duplicates >= 1
    finally:
        receivers.stop()


def test_receivers_down_for_a_minute_every_ticket_arrives_once_afterwards(pg_database, monkeypatch):
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    receivers = make_receivers()  # ports chosen, nothing listening yet
    config = DeliveryConfig.model_validate(config_document(
        receivers, retry={"initial_s": 1, "max_s": 8, "max_attempts": 50, "jitter": 0.5}))
    engine = make_engine(pg_database)
    migrate(engine)
    teams = ["customer_service", "pr", "sales", "marketing"]
    batch = [make_routed(str(i), Team(teams[i % 4]), cc=(Team.PR,) if i % 5 == 0 else ()) for i in range(40)]
    TicketStore(engine).save(batch, outbox=DeliveryPlan(config))
    dispatcher = Dispatcher(Outbox(engine), build_sinks(config), config.retry)
    worker = threading.Thread(target=dispatcher.run, kwargs={"idle_sleep_s": 0.2}, daemon=True)
    worker.start()
    try:
        time.sleep(60)
        rows = outbox_rows(engine)
        assert {r.status for r in rows} == {"pending"} and min(r.attempts for r in rows) >= 4
        receivers.start()
        wait_until(lambda: all(r.status == "delivered" for r in outbox_rows(engine)), 60, "all delivered")
        assert_each_delivered_exactly_once(engine, receivers, config)
    finally:
        dispatcher.stop()
        worker.join(10)
        receivers.stop()
        engine.dispose()
