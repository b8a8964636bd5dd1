"""Workers SIGKILLed mid-run lose no mention and duplicate no ticket.

Real broker, real PostgreSQL, real worker processes: the classifier is
killed once a third of the sample is routed and the router once two thirds
are, each restarted; afterwards every mention is routed exactly once.
"""


import pytest
from sqlalchemy import text

from listeners import MentionPublisher, ReplayListener, run_listener
from mentionflow.kafka import Topics, make_producer
from mentionflow.models import Mention
from mentionflow.settings import PROJECT_ROOT, Settings
from mentionflow.stack.local import LocalStack
from tests.waiting import drain, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SAMPLE = PROJECT_ROOT / "listeners" / "samples" / "sample_mentions.jsonl"


def ticket_messages(bootstrap: str) -> list:
    topics = Topics()
    return drain(bootstrap, [topics.tickets(t) for t in ("customer_service", "pr", "sales", "marketing")])


def test_sigkilled_workers_lose_nothing_and_duplicate_nothing(pg_database, tmp_path):
    settings = Settings(database_url=pg_database, bootstrap_servers=None, var_dir=tmp_path)
    with LocalStack(settings, tmp_path / "run") as stack:
        stack.start(classifiers=1, routers=1, dispatchers=0)
        listener = ReplayListener("crash-test", SAMPLE)
        ids = {m.id for m in listener.poll(None) if isinstance(m, Mention)}
        producer = make_producer(stack.bootstrap_servers)
        stats = run_listener(listener, MentionPublisher(producer), None, use_cursor=False)
        producer.close()
        assert stats.published == len(ids) and stats.rejected == 0

        def routed() -> int:
            return len(stack.store.routed_ids(ids))

        classifier, router = stack.workers
        wait_until(lambda: routed() >= len(ids) // 3, 300, "a third routed", stack)
        classifier.kill()
        stack.workers.remove(classifier)
        stack.start_worker("classify", 1)

        wait_until(lambda: routed() >= 2 * len(ids) // 3, 300, "two thirds routed", stack)
        router.kill()
        stack.workers.remove(router)
        stack.start_worker("route", 1)

        wait_until(lambda: routed() == len(ids), 300, "everything routed", stack)
        # Let the restarted router finish publishing what the killed one had written.
        wait_until(lambda: _unpublished(stack) == 0, 60, "all tickets published", stack)

        with stack.store.engine.connect() as conn:
            mentions = conn.execute(text("SELECT count(*) FROM mentions")).scalar_one()
            actionable = conn.execute(text("SELECT count(*) FROM mentions WHERE team IS NOT NULL")).scalar_one()
            tickets = conn.execute(text("SELECT count(*) FROM tickets")).scalar_one()
            distinct = conn.execute(text("SELECT count(DISTINCT mention_id) FROM tickets")).scalar_one()
            mismatched = conn.execute(text(
                "SELECT count(*) FROM tickets t JOIN mentions m ON m.id = t.mention_id WHERE m.team <> t.team"
            )).scalar_one()
        assert mentions == len(ids), "no mention lost"
        assert tickets == actionable == distinct, "one ticket per actionable mention"
        assert mismatched == 0
        assert actionable > len(ids) // 2

        # Delivery to the team topics is at-least-once: every ticket is there,
        # and repeats (from the killed router's unacknowledged batch) carry the same ticket id.
        delivered = ticket_messages(stack.bootstrap_servers)
        assert {m.key.decode() for m in delivered} == _ticketed_ids(stack)
        by_key: dict[bytes, set[bytes]] = {}
        for m in delivered:
            by_key.setdefault(m.key, set()).add(dict(m.headers)["mentionflow.ticket_id"])
        assert all(len(v) == 1 for v in by_key.values())


def _unpublished(stack: LocalStack) -> int:
    with stack.store.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM tickets WHERE published_at IS NULL")).scalar_one()


def _ticketed_ids(stack: LocalStack) -> set[str]:
    with stack.store.engine.connect() as conn:
        return set(conn.execute(text("SELECT mention_id FROM tickets")).scalars())
