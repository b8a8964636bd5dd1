"""The store against SQLite and a real PostgreSQL."""

from datetime import timedelta

import pytest
from sqlalchemy import inspect

from mentionflow.models import Author, Category, Priority, Team, Ticket, ticket_id_for
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


def _routed(native_id: str, ticketed: bool = True, handle: str | None = None, text: str | None = None,
            created_at=T0) -> RoutedMention:
    """Distinct authors and texts unless a test asks for the same."""
    mention = make_mention(native_id, text or f"order {native_id} never arrived", created_at=created_at,
                           author=Author(handle=handle or f"user{native_id}", followers=10))
    c = make_classified(mention)
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


def _tickets(store):
    from sqlalchemy import select

    from mentionflow.store.tables import TicketRow

    with store.engine.connect() as conn:
        return {r.mention_id: r for r in conn.execute(select(TicketRow.__table__))}


def _events(store):
    from sqlalchemy import select

    from mentionflow.store.tables import TicketEventRow

    with store.engine.connect() as conn:
        return [(r.ticket_id, r.action, r.details) for r in conn.execute(select(TicketEventRow.__table__).order_by(TicketEventRow.id))]


def _ticket_of_mention(store, mention_id):
    from sqlalchemy import select

    from mentionflow.store.tables import MentionRow

    with store.engine.connect() as conn:
        return conn.execute(select(MentionRow.ticket_id).where(MentionRow.id == mention_id)).scalar_one()


def test_the_same_author_again_attaches_to_the_open_ticket(store):
    store.save([_routed("1", handle="anna")])
    later = _routed("2", handle="ANNA", text="still nothing, day 3", created_at=T0 + timedelta(hours=5))
    assert store.save([later]) == []  # nothing new to publish
    tickets = _tickets(store)
    assert list(tickets) == ["x:1"]
    assert tickets["x:1"].mention_count == 2
    assert _aware_db(tickets["x:1"].last_mention_at) == T0 + timedelta(hours=5)
    assert _ticket_of_mention(store, "x:2") == ticket_id_for("x:1")
    assert _events(store)[-1] == (ticket_id_for("x:1"), "attached", {"mention_id": "x:2", "because": "the same author"})
    store.save([later])  # a replayed batch counts nothing twice
    assert _tickets(store)["x:1"].mention_count == 2


def test_a_copy_paste_campaign_becomes_one_ticket(store):
    text = "Parcelo lost 3,000 parcels in Leeds and says nothing #boycottparcelo"
    batch = [_routed(str(i), handle=f"u{i}", text=f"RT @angry: {text} https://t.co/{i}") for i in range(5)]
    assert len(store.save(batch)) == 1
    [ticket] = _tickets(store).values()
    assert ticket.mention_count == 5
    assert [e[2]["because"] for e in _events(store) if e[1] == "attached"] == ["the same text"] * 4


def test_short_texts_from_different_authors_stay_separate(store):
    store.save([_routed("1", text="worst service ever"), _routed("2", text="worst service ever")])
    assert len(_tickets(store)) == 2


def test_no_attachment_across_teams_after_the_window_or_to_resolved_tickets(store):
    from sqlalchemy import update

    from mentionflow.store.tables import TicketRow

    store.save([_routed("1", handle="anna")])
    other_team = _routed("2", handle="anna")
    other_team = RoutedMention(other_team.classified, "lead", _ticket("x:2", Team.SALES))
    too_late = _routed("3", handle="anna", created_at=T0 + timedelta(hours=25))
    store.save([other_team, too_late])
    assert set(_tickets(store)) == {"x:1", "x:2", "x:3"}
    with store.engine.begin() as conn:
        conn.execute(update(TicketRow).values(status="resolved"))
    store.save([_routed("4", handle="anna", created_at=T0 + timedelta(hours=26))])
    assert "x:4" in _tickets(store)


def test_times_are_stored_in_utc_whatever_the_offset_of_the_post(store):
    from datetime import timezone as tz

    plus_two = tz(timedelta(hours=2))
    store.save([_routed("1", handle="anna", created_at=(T0 + timedelta(hours=2)).astimezone(plus_two))])
    # 1 hour later in UTC, written at +00:00: the same author within the window
    store.save([_routed("2", handle="anna", created_at=T0 + timedelta(hours=3))])
    assert _tickets(store)["x:1"].mention_count == 2
    assert _aware_db(_tickets(store)["x:1"].last_mention_at) == T0 + timedelta(hours=3)


def test_every_new_ticket_has_a_created_event(store):
    store.save([_routed("1"), _routed("2"), _routed("3", ticketed=False)])
    assert [(e[0], e[1]) for e in _events(store)] == [(ticket_id_for("x:1"), "created"), (ticket_id_for("x:2"), "created")]
    assert _events(store)[0][2]["rule_id"] == "complaint"


def _aware_db(value):
    from datetime import timezone as tz

    return value if value.tzinfo else value.replace(tzinfo=tz.utc)


def test_migrations_match_the_table_definitions(store):
    """Alembic's autogenerate finds nothing to add: code and schema agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from mentionflow.store.tables import Base

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], diff
