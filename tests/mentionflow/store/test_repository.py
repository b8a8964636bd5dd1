"""The store against SQLite and a real PostgreSQL."""

from datetime import timedelta

import pytest
from sqlalchemy import inspect

from mentionflow.models import Category, Priority, Team, Ticket, ticket_id_for
from mentionflow.store import RoutedMention, TicketStore, make_engine, migrate
from tests.factories import T0, make_classified, make_mention


@pytest.fixture
def store(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    yield TicketStore(engine)
    engine.dispose()


def _ticket(mention_id: str, team: Team = Team.CUSTOMER_SERVICE) -> Ticket:
    return Ticket(
        id=ticket_id_for(mention_id), mention_id=mention_id, team=team, priority=Priority.HIGH,
        rule_id="complaint", reasons=["category is complaint"], category=Category.COMPLAINT,
        brand="parcelo", first_response_due_at=T0 + timedelta(hours=1),
        resolution_due_at=T0 + timedelta(hours=8), created_at=T0, tags=["vip"], cc=[Team.PR],
    )


def _routed(native_id: str, ticketed: bool = True) -> RoutedMention:
    c = make_classified(make_mention(native_id))
    return RoutedMention(c, "complaint", _ticket(c.id) if ticketed else None)


def test_migration_creates_schema_and_is_repeatable(store):
    migrate(store.engine)  # second run is a no-op
    tables = set(inspect(store.engine).get_table_names())
    assert {"mentions", "tickets", "source_cursors", "brand_states", "alembic_version"} <= tables


def test_save_is_idempotent_and_returns_unpublished(store):
    batch = [_routed("1"), _routed("2"), _routed("3", ticketed=False)]
    first = store.save(batch)
    assert sorted(t.mention_id for t in first) == ["x:1", "x:2"]
    again = store.save(batch)  # replay after a crash before publishing
    assert sorted(t.mention_id for t in again) == ["x:1", "x:2"]
    assert store.count_tickets() == 2
    assert store.count_mentions() == 3
    store.mark_published([t.id for t in first])
    assert store.save(batch) == []
    assert store.count_tickets() == 2


def test_one_ticket_per_mention_even_with_a_different_decision(store):
    store.save([_routed("1")])
    c = make_classified(make_mention("1"))
    store.save([RoutedMention(c, "other-rule", _ticket(c.id, Team.PR))])
    [ticket] = store.tickets_for(["x:1"])
    assert ticket.team == Team.CUSTOMER_SERVICE  # the first decision stands


def test_ticket_counts_by_team_and_category(store):
    store.save([_routed("1"), _routed("2"), _routed("3", ticketed=False)])
    assert store.ticket_counts() == {("customer_service", "complaint"): 2}
    assert store.ticket_counts(["x:1"]) == {("customer_service", "complaint"): 1}
    assert store.routed_ids(["x:1", "x:3", "x:9"]) == {"x:1", "x:3"}


def test_timestamps_come_back_timezone_aware(store):
    store.save([_routed("1")])
    [ticket] = store.tickets_for(["x:1"])
    assert ticket.created_at == T0
    assert ticket.first_response_due_at - ticket.created_at == timedelta(hours=1)
    assert ticket.resolution_due_at - ticket.created_at == timedelta(hours=8)
    assert (ticket.tags, ticket.cc) == (["vip"], [Team.PR])


def test_spike_state_is_kept_per_brand_with_its_start(store):
    assert store.brands_in_spike() == set()
    store.set_spike("parcelo", True, "5x the hourly baseline")
    [since] = _spike_since(store, "parcelo")
    store.set_spike("parcelo", True, "still 4x")  # a spike that continues keeps its start
    assert _spike_since(store, "parcelo") == [since]
    store.set_spike("nordbank", False)
    assert store.brands_in_spike() == {"parcelo"}
    assert store.brands_in_spike(["nordbank"]) == set()
    store.set_spike("parcelo", False)
    assert store.brands_in_spike() == set()
    assert _spike_since(store, "parcelo") == [None]


def _spike_since(store, brand):
    from sqlalchemy import select

    from mentionflow.store.tables import BrandStateRow

    with store.engine.connect() as conn:
        return list(conn.execute(select(BrandStateRow.since).where(BrandStateRow.brand == brand)).scalars())


def test_cursors_upsert(store):
    assert store.get_cursor("src") is None
    store.set_cursor("src", {"line": 3})
    store.set_cursor("src", {"line": 7})
    assert store.get_cursor("src") == {"line": 7}
