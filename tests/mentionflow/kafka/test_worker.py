"""The consume/commit loop against a real Kafka-protocol broker."""

import threading

import pytest

from mentionflow.kafka import BatchWorker, Topics, ensure_topics, make_consumer, make_producer


def produce(bootstrap, topic, values):
    p = make_producer(bootstrap)
    for v in values:
        p.send(topic, key=v, value=v)
    p.flush()
    p.close()


def drain(bootstrap, group, topic, expect, timeout_s=20.0):
    """Values a fresh member of ``group`` receives (from the committed offsets)."""
    c = make_consumer(bootstrap, group, [topic])
    got, idle = [], 0
    while idle < 6 and len(got) < expect + 1:
        batch = c.poll(timeout_ms=500)
        recs = [r for rs in batch.values() for r in rs]
        idle = idle + 1 if not recs and c.assignment() else 0
        got.extend(r.value for r in recs)
    c.close(autocommit=False)
    return got


@pytest.fixture
def topic(broker):
    ensure_topics(broker.bootstrap_servers, partitions=2)
    return Topics().raw


def test_commits_after_the_handler_and_retries_a_failed_batch(broker, topic):
    values = [f"m{i}".encode() for i in range(30)]
    produce(broker.bootstrap_servers, topic, values)
    seen: list[bytes] = []
    calls = {"n": 0}

    def handler(records):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database briefly unavailable")
        seen.extend(r.value for r in records)

    consumer = make_consumer(broker.bootstrap_servers, "g1", [topic])
    worker = BatchWorker(consumer, make_producer(broker.bootstrap_servers), handler, name="t", poll_timeout_ms=200)
    worker.run(max_idle_s=3)
    assert sorted(seen) == sorted(values)  # the failed batch was replayed, nothing lost
    assert drain(broker.bootstrap_servers, "g1", topic, 0) == []  # and everything is committed


def test_nothing_is_committed_when_the_handler_keeps_failing(broker, topic):
    values = [f"m{i}".encode() for i in range(10)]
    produce(broker.bootstrap_servers, topic, values)

    def handler(records):
        raise RuntimeError("poison")

    consumer = make_consumer(broker.bootstrap_servers, "g2", [topic])
    worker = BatchWorker(consumer, make_producer(broker.bootstrap_servers), handler, name="t",
                         poll_timeout_ms=200, max_retries=1)
    worker._sleep = lambda _delay: None  # no backoff sleeps in the test
    with pytest.raises(RuntimeError, match="poison"):
        worker.run(max_idle_s=3)
    assert sorted(drain(broker.bootstrap_servers, "g2", topic, len(values))) == sorted(values)


def test_stop_finishes_cleanly(broker, topic):
    consumer = make_consumer(broker.bootstrap_servers, "g3", [topic])
    worker = BatchWorker(consumer, make_producer(broker.bootstrap_servers), lambda r: None, name="t", poll_timeout_ms=100)
    t = threading.Thread(target=worker.run)
    t.start()
    worker.stop()
    t.join(timeout=15)
    assert not t.is_alive()
