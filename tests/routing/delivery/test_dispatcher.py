"""The outbox and the dispatcher, on SQLite and a real PostgreSQL, with real receivers."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from mentionflow.models import Team, ticket_id_for, utcnow
from mentionflow.store import TicketStore, make_engine, migrate
from mentionflow.store.outbox import DeliveryStatus, Outbox
from mentionflow.store.tables import DeliveryRow
from routing.delivery import DeliveryPlan, Dispatcher
from routing.delivery.sinks import build_sinks
from tests.factories import make_routed
from tests.fakes.http import json_response


@pytest.fixture
def engine(database_url):
    e = make_engine(database_url)
    migrate(e)
    yield e
    e.dispose()


def deliveries(engine) -> list[DeliveryRow]:
    with engine.connect() as conn:
        return list(conn.execute(select(DeliveryRow).order_by(DeliveryRow.id)))


def test_outbox_rows_are_written_with_the_ticket_once_per_sink(engine, delivery_config):
    store, plan = TicketStore(engine), DeliveryPlan(delivery_config)
    batch = [make_routed("1", Team.CUSTOMER_SERVICE, cc=(Team.PR,)), make_routed("2", Team.SALES)]
    store.save(batch, outbox=plan)
    rows = deliveries(engine)
    got = {(r.ticket_id, r.sink, r.team, r.role) for r in rows}
    t1, t2 = ticket_id_for("x:1"), ticket_id_for("x:2")
    # support-slack serves customer_service and pr: one message, recorded as the owner's
    assert got == {(t1, "support-desk", "customer_service", "owner"), (t1, "support-slack", "customer_service", "owner"),
                   (t1, "pr-mail", "pr", "cc"), (t2, "crm-hook", "sales", "owner")}
    assert all(r.status == "pending" and r.attempts == 0 for r in rows)
    store.save(batch, outbox=plan)  # a replayed batch adds nothing
    assert len(deliveries(engine)) == 4


def test_a_near_duplicate_attached_to_a_ticket_is_not_delivered_again(engine, delivery_config):
    store, plan = TicketStore(engine), DeliveryPlan(delivery_config)
    store.save([make_routed("1", Team.SALES, handle="anna")], outbox=plan)
    store.save([make_routed("2", Team.SALES, handle="anna", text="still waiting for a quote")], outbox=plan)
    assert store.count_tickets() == 1
    assert len(deliveries(engine)) == 1


def test_no_outbox_row_without_its_ticket(engine, delivery_config):
    """The ticket and its deliveries commit together: a failing write leaves neither."""
    store = TicketStore(engine)

    def exploding_plan(r):
        raise RuntimeError("crash inside the transaction")

    with pytest.raises(RuntimeError):
        store.save([make_routed("1", Team.SALES)], outbox=exploding_plan)
    assert store.count_tickets() == 0 and deliveries(engine) == []


def test_dispatcher_delivers_every_row_to_its_receiver(engine, receivers, delivery_config):
    store = TicketStore(engine)
    store.save([make_routed("1", Team.CUSTOMER_SERVICE, cc=(Team.PR,)), make_routed("2", Team.SALES),
                make_routed("3", Team.MARKETING)], outbox=DeliveryPlan(delivery_config))
    dispatcher = Dispatcher(Outbox(engine), build_sinks(delivery_config), delivery_config.retry)
    assert dispatcher.run_once() == 5
    assert dispatcher.run_once() == 0
    rows = deliveries(engine)
    assert {r.status for r in rows} == {"delivered"} and all(r.attempts == 1 for r in rows)
    assert len(receivers.zendesk.tickets) == 1 and len(receivers.slack.messages) == 1
    assert len(receivers.smtp.messages) == 1 and len(receivers.webhook.accepted) == 2
    refs = {r.sink: r.external_ref for r in rows if r.ticket_id == ticket_id_for("x:1")}
    assert refs["support-desk"] == str(receivers.zendesk.tickets[0]["id"])
    assert refs["pr-mail"] == receivers.smtp.messages[0]["Message-ID"]


def test_failures_back_off_and_then_deliver_once(engine, receivers, delivery_config):
    TicketStore(engine).save([make_routed("1", Team.SALES)], outbox=DeliveryPlan(delivery_config))
    receivers.webhook.fail_next += [json_response(500, {}), json_response(503, {}, {"Retry-After": "0"})]
    outbox = Outbox(engine)
    dispatcher = Dispatcher(outbox, build_sinks(delivery_config), delivery_config.retry)
    before = utcnow()
    dispatcher.run_once()
    [row] = deliveries(engine)
    assert row.status == "pending" and row.attempts == 1 and "HTTP 500" in row.last_error
    # initial_s 0.2, no jitter: the second attempt is due 0.2 s later, not before
    delay = (row.next_attempt_at.replace(tzinfo=before.tzinfo) - before).total_seconds()
    assert 0.15 < delay < 1.0
    assert dispatcher.run_once() == 0  # not due yet
    dispatcher.run(idle_sleep_s=0.05, max_idle_s=2.0)
    [row] = deliveries(engine)
    assert row.status == "delivered" and row.attempts == 3 and row.last_error is None
    assert len(receivers.webhook.requests) == 3 and len(receivers.webhook.accepted) == 1


def test_permanent_errors_fail_at_once_and_can_be_requeued(engine, receivers, delivery_config, monkeypatch):
    TicketStore(engine).save([make_routed("1", Team.SALES)], outbox=DeliveryPlan(delivery_config))
    monkeypatch.setenv("TEST_HOOK_SECRET", "rotated-but-not-at-the-receiver")
    outbox = Outbox(engine)
    Dispatcher(outbox, build_sinks(delivery_config), delivery_config.retry).run_once()
    [row] = deliveries(engine)
    assert row.status == "failed" and row.attempts == 1 and "HTTP 401" in row.last_error
    assert outbox.counts() == {("crm-hook", "failed"): 1}

    monkeypatch.setenv("TEST_HOOK_SECRET", "whsec-test-hook")  # fixed
    assert outbox.requeue(sink="crm-hook") == 1
    Dispatcher(outbox, build_sinks(delivery_config), delivery_config.retry).run_once()
    assert outbox.counts() == {("crm-hook", "delivered"): 1}


def test_out_of_attempts_means_failed(engine, receivers, delivery_config):
    TicketStore(engine).save([make_routed("1", Team.SALES)], outbox=DeliveryPlan(delivery_config))
    receivers.webhook.stop()
    dispatcher = Dispatcher(Outbox(engine), build_sinks(delivery_config), delivery_config.retry)
    dispatcher.run(idle_sleep_s=0.05, max_idle_s=3.0)
    [row] = deliveries(engine)
    assert row.status == "failed" and row.attempts == delivery_config.retry.max_attempts == 5
    assert row.last_error.startswith("gave up after 5 attempts: webhook")


def test_a_sink_removed_from_the_config_fails_its_rows_with_the_reason(engine, receivers, delivery_config):
    TicketStore(engine).save([make_routed("1", Team.SALES)], outbox=DeliveryPlan(delivery_config))
    sinks = build_sinks(delivery_config)
    del sinks["crm-hook"]
    Dispatcher(Outbox(engine), sinks, delivery_config.retry).run_once()
    [row] = deliveries(engine)
    assert row.status == "failed" and "sink 'crm-hook' is not configured" in row.last_error


def test_leases_keep_two_dispatchers_off_each_others_rows(engine, delivery_config):
    TicketStore(engine).save([make_routed(str(i), Team.SALES) for i in range(10)], outbox=DeliveryPlan(delivery_config))
    outbox = Outbox(engine)
    a = outbox.claim("a", 6, timedelta(minutes=1))
    b = outbox.claim("b", 6, timedelta(minutes=1))
    assert len(a) == 6 and len(b) == 4 and not {d.id for d in a} & {d.id for d in b}
    assert outbox.claim("c", 6, timedelta(minutes=1)) == []
    # a dispatcher that died: its lease lapses and the rows are claimable again
    later = utcnow() + timedelta(minutes=2)
    assert {d.id for d in outbox.claim("c", 20, timedelta(minutes=1), now=later)} == {d.id for d in a + b}
    # the dead owner can no longer record an outcome over the new holder
    assert outbox.delivered(a[0], "a", None) is False


def test_outcomes_are_counted_per_sink_and_status(engine, receivers, delivery_config):
    store = TicketStore(engine)
    store.save([make_routed(str(i), team) for i, team in enumerate([Team.SALES, Team.SALES, Team.PR])],
               outbox=DeliveryPlan(delivery_config))
    with engine.begin() as conn:
        conn.execute(update(DeliveryRow).where(DeliveryRow.sink == "pr-mail").values(status="failed"))
    Dispatcher(Outbox(engine), build_sinks(delivery_config), delivery_config.retry).run_once()
    counts = Counter(Outbox(engine).counts())
    assert counts[("crm-hook", DeliveryStatus.DELIVERED.value)] == 2
    assert counts[("pr-mail", DeliveryStatus.FAILED.value)] == 1
    assert counts[("support-slack", DeliveryStatus.DELIVERED.value)] == 1


def test_after_a_sink_fails_the_rest_of_its_share_waits_untried(engine, receivers, delivery_config):
    TicketStore(engine).save([make_routed(str(i), Team.SALES) for i in range(3)] + [make_routed("9", Team.PR)],
                             outbox=DeliveryPlan(delivery_config))
    receivers.webhook.fail_next.append(json_response(503, {"error": "maintenance"}))
    Dispatcher(Outbox(engine), build_sinks(delivery_config), delivery_config.retry).run_once()
    assert len(receivers.webhook.requests) == 1  # one probe, not one timeout per ticket
    hook = [r for r in deliveries(engine) if r.sink == "crm-hook"]
    assert [r.status for r in hook] == ["pending"] * 3
    assert len({r.next_attempt_at for r in hook}) == 1
    assert sum("not tried" in r.last_error for r in hook) == 2
    # the other sinks of the batch were not held up
    assert len(receivers.smtp.messages) == 1 and len(receivers.slack.messages) == 1
