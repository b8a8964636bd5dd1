"""Bad input ends in mentions.dlq with its reason and original bytes, never a crash."""

import json

import pytest

from classifiers.worker import ClassifyHandler
from mentionflow.kafka import BatchWorker, Topics, ensure_topics, make_consumer, make_producer
from mentionflow.models import ClassifiedMention
from mentionflow.store import TicketStore, make_engine, migrate
from routing.engine import RoutingEngine
from routing.loader import load_rules
from routing.worker import RouteHandler
from tests.factories import make_classified, make_mention

pytestmark = pytest.mark.integration


def read_all(bootstrap, topic, expect, timeout_polls=40):
    c = make_consumer(bootstrap, f"reader-{topic}", [topic])
    got, polls = [], 0
    while len(got) < expect and polls < timeout_polls:
        polls += 1
        got.extend(r for rs in c.poll(timeout_ms=500).values() for r in rs)
    c.close(autocommit=False)
    return got


def valid_mention_bytes(native_id: str, text: str) -> bytes:
    return make_mention(native_id, text).model_dump_json().encode()


def test_malformed_mentions_are_dead_lettered_and_the_rest_classified(broker, classifier):
    bs = broker.bootstrap_servers
    ensure_topics(bs, partitions=1)
    topics = Topics()
    good = json.loads(valid_mention_bytes("1", "x"))
    missing = {k: v for k, v in good.items() if k != "text"}
    wrong_types = {**good, "author": {"handle": "h", "followers": "lots"}, "created_at": 5}
    empty = {**good, "text": ""}
    cases = {
        b"malformed": b'{"id": "x:1", "text": "unterminated',
        b"missing": json.dumps(missing).encode(),
        b"wrong": json.dumps(wrong_types).encode(),
        b"empty": json.dumps(empty).encode(),
        b"not-object": b"[1, 2, 3]",
        b"nothing": b"",
    }
    huge_text = ("my parcel never arrived and support ignores me. " * 22000)[:1_000_000]
    valid = {
        b"huge": valid_mention_bytes("huge", huge_text),
        b"fine": valid_mention_bytes("fine", "Where is my parcel? Ordered 3 weeks ago, still nothing."),
    }
    producer = make_producer(bs)
    for key, value in {**cases, **valid}.items():
        producer.send(topics.raw, key=key, value=value)
    producer.flush()

    out = make_producer(bs)
    worker = BatchWorker(make_consumer(bs, "classifier", [topics.raw]), out,
                         ClassifyHandler(classifier, out, topics), name="t", poll_timeout_ms=200)
    worker.run(max_idle_s=3)

    dead = {r.key: r for r in read_all(bs, topics.dlq, len(cases))}
    assert set(dead) == set(cases)
    for key, record in dead.items():
        headers = dict(record.headers)
        assert record.value == cases[key], "the original bytes are kept"
        assert headers["mentionflow.stage"] == b"classify"
        assert headers["mentionflow.source.topic"] == topics.raw.encode()
        assert headers["mentionflow.error"]
    reasons = {k: dict(r.headers)["mentionflow.error"].decode() for k, r in dead.items()}
    assert "Invalid JSON" in reasons[b"malformed"] or "EOF" in reasons[b"malformed"]
    assert "text: Field required" in reasons[b"missing"]
    assert "author.followers" in reasons[b"wrong"] and "created_at" in reasons[b"wrong"]
    assert "text is empty" in reasons[b"empty"]
    assert reasons[b"nothing"] == "empty message"
    assert all(len(r) < 2100 for r in reasons.values())

    classified = {r.key: ClassifiedMention.model_validate_json(r.value) for r in read_all(bs, topics.classified, 2)}
    assert set(classified) == {b"x:huge", b"x:fine"}
    assert classified[b"x:huge"].mention.text == huge_text  # kept whole, classified on its head
    assert classified[b"x:fine"].category.value == "complaint"


def test_router_dead_letters_what_is_not_a_classified_mention(broker, tmp_path, settings):
    bs = broker.bootstrap_servers
    ensure_topics(bs, partitions=1)
    topics = Topics()
    producer = make_producer(bs)
    good = make_classified(make_mention("ok"))
    producer.send(topics.classified, key=b"x:ok", value=good.model_dump_json().encode())
    producer.send(topics.classified, key=b"bad", value=b'{"mention": null}')
    producer.flush()
    engine = make_engine(f"sqlite:///{tmp_path / 's.db'}")
    migrate(engine)
    store = TicketStore(engine)
    out = make_producer(bs)
    handler = RouteHandler(RoutingEngine(load_rules(settings.rules_file)), store, out, topics)
    BatchWorker(make_consumer(bs, "router", [topics.classified]), out, handler, name="r",
                poll_timeout_ms=200).run(max_idle_s=3)
    [dead] = read_all(bs, topics.dlq, 1)
    assert dead.value == b'{"mention": null}'
    assert dict(dead.headers)["mentionflow.stage"] == b"route"
    assert store.count_tickets() == 1
    [ticket_msg] = read_all(bs, topics.tickets("customer_service"), 1)
    assert ticket_msg.key == b"x:ok"
