"""The router worker through a real broker: owners, cc'd teams, the review
queue and the outbox, from one batch of classified mentions."""

import pytest
from sqlalchemy import select

from mentionflow.kafka import BatchWorker, Topics, ensure_topics, make_consumer, make_producer
from mentionflow.models import Category, Ticket
from mentionflow.store import TicketStore, make_engine, migrate
from mentionflow.store.tables import DeliveryRow
from routing.delivery import DeliveryConfig, DeliveryPlan
from routing.engine import RoutingEngine
from routing.loader import parse_rules
from routing.worker import RouteHandler
from tests.factories import make_classified, make_mention
from tests.waiting import drain

pytestmark = pytest.mark.integration

RULES = """
timezone: UTC
rules:
  - id: unsure
    when: {needs_review: true}
    then: {review: true, team: customer_service, priority: normal}
  - id: crisis
    when: {all: [{spike: true}, {category: complaint}]}
    then: {team: customer_service, priority: urgent, cc: [pr], tags: [crisis]}
  - id: complaint
    when: {category: complaint}
    then: {team: customer_service, priority: high}
  - id: lead
    when: {category: lead}
    then: {team: sales, priority: normal}
  - id: rest
    when: {not: {category: complaint}}
    then: {suppress: true}
"""


def test_owner_cc_and_review_tickets_reach_their_topics_and_the_outbox(broker, tmp_path):
    bs = broker.bootstrap_servers
    ensure_topics(bs, partitions=1)
    topics = Topics()
    engine = make_engine(f"sqlite:///{tmp_path / 's.db'}")
    migrate(engine)
    store = TicketStore(engine)
    store.set_spike("vexa", True, "test spike")
    batch = {
        "crisis": make_classified(make_mention("1", "vexa charged me twice", brand="vexa"), Category.COMPLAINT),
        "plain": make_classified(make_mention("2", "my parcel is late"), Category.COMPLAINT),
        "unsure": make_classified(make_mention("3", "hmm parcelo again"), Category.COMPLAINT, confidence=0.3,
                                  needs_review=True),
        "lead": make_classified(make_mention("4", "price for 200 seats?"), Category.LEAD),
        "praise": make_classified(make_mention("5", "love it"), Category.PRAISE),
    }
    producer = make_producer(bs)
    for c in batch.values():
        producer.send(topics.classified, key=c.id.encode(), value=c.model_dump_json().encode())
    producer.flush()
    plan = DeliveryPlan(DeliveryConfig.model_validate({
        "sinks": {"desk": {"kind": "webhook", "url": "http://127.0.0.1:9/desk", "secret_env": "X"},
                  "pr-mail": {"kind": "email", "host": "127.0.0.1", "from": "m@x.example", "to": ["pr@x.example"]}},
        "teams": {"customer_service": ["desk"], "pr": ["pr-mail"], "review": ["desk"]},
    }))
    handler = RouteHandler(RoutingEngine(parse_rules(RULES)), store, producer, topics, outbox=plan)
    BatchWorker(make_consumer(bs, "router", [topics.classified]), producer, handler, name="r",
                poll_timeout_ms=200).run(max_idle_s=3)

    got = drain(bs, [topics.tickets(t) for t in ("customer_service", "pr", "sales", "marketing", "review")])
    seen = {(r.topic, Ticket.model_validate_json(r.value).mention_id, dict(r.headers)["mentionflow.role"]) for r in got}
    assert seen == {
        (topics.tickets("customer_service"), "x:1", b"owner"), (topics.tickets("pr"), "x:1", b"cc"),
        (topics.tickets("customer_service"), "x:2", b"owner"),
        (topics.tickets("review"), "x:3", b"owner"),
        (topics.tickets("sales"), "x:4", b"owner"),
    }
    review = next(Ticket.model_validate_json(r.value) for r in got if r.topic == topics.tickets("review"))
    assert review.suggested_team is not None and review.suggested_team.value == "customer_service"
    crisis = next(Ticket.model_validate_json(r.value) for r in got if r.topic == topics.tickets("pr"))
    assert crisis.priority.value == "urgent" and "crisis" in crisis.tags

    with engine.connect() as conn:
        rows = conn.execute(select(DeliveryRow.sink, DeliveryRow.team, DeliveryRow.role)).all()
    # x:1 desk + pr-mail (cc), x:2 desk, x:3 desk (review); the lead's team has no sinks
    assert sorted(map(tuple, rows)) == sorted([("desk", "customer_service", "owner"), ("pr-mail", "pr", "cc"),
                                               ("desk", "customer_service", "owner"), ("desk", "review", "owner")])
    engine.dispose()
