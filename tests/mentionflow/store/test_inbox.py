"""Ticket lifecycle, audit trail, scoping and filters, on SQLite and PostgreSQL."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from mentionflow.models import Author, Category, Priority, Team, Ticket, TicketStatus, ticket_id_for, utcnow
from mentionflow.store import RoutedMention, TicketStore, make_engine, migrate
from mentionflow.store.inbox import Conflict, TicketFilter, TicketInbox, TicketNotFound
from mentionflow.store.tables import CategoryFeedbackRow, MentionRow
from tests.factories import make_classified, make_mention


@pytest.fixture
def stores(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    yield TicketStore(engine), TicketInbox(engine)
    engine.dispose()


def _open(store, native_id, team=Team.CUSTOMER_SERVICE, category=Category.COMPLAINT, language="en",
          platform="x", priority=Priority.HIGH, due=timedelta(hours=1), created=None):
    created = created or utcnow()
    mention = make_mention(native_id, f"ticket text number {native_id} for the inbox", platform=platform,
                           author=Author(handle=f"author{native_id}", followers=5), created_at=created)
    c = make_classified(mention, category=category, language=language)
    ticket = Ticket(id=ticket_id_for(c.id), mention_id=c.id, team=team, priority=priority, rule_id="r",
                    reasons=["rule r"], category=category, brand="parcelo", language=language, platform=platform,
                    first_response_due_at=created + due, resolution_due_at=created + 4 * due, created_at=created)
    store.save([RoutedMention(c, "r", ticket)])
    return ticket.id


def test_full_lifecycle_with_timestamps_times_and_audit(stores):
    store, inbox = stores
    tid = _open(store, "1")
    assert inbox.get(None, tid).ticket.status == TicketStatus.NEW

    claimed = inbox.claim(Team.CUSTOMER_SERVICE, tid, "alice")
    assert (claimed.status, claimed.assignee) == (TicketStatus.ASSIGNED, "alice")
    responded = inbox.respond(Team.CUSTOMER_SERVICE, tid, "alice", note="DM sent")
    assert responded.status == TicketStatus.RESPONDED
    assert responded.first_response_seconds is not None and responded.first_response_seconds >= 0
    assert not responded.first_response_breached
    resolved = inbox.resolve(Team.CUSTOMER_SERVICE, tid, "alice")
    assert resolved.status == TicketStatus.RESOLVED and resolved.resolution_seconds is not None
    reopened = inbox.reopen(Team.CUSTOMER_SERVICE, tid, "bob", reason="customer wrote again")
    assert (reopened.status, reopened.reopen_count, reopened.resolved_at) == (TicketStatus.REOPENED, 1, None)
    # the first response is not moved by later responses
    again = inbox.respond(Team.CUSTOMER_SERVICE, tid, "bob")
    assert again.first_response_at == responded.first_response_at

    events = inbox.get(Team.CUSTOMER_SERVICE, tid).events
    assert [(e.action, e.actor, e.from_status, e.to_status) for e in events] == [
        ("created", "router", None, "new"),
        ("claimed", "alice", "new", "assigned"),
        ("responded", "alice", "assigned", "responded"),
        ("resolved", "alice", "responded", "resolved"),
        ("reopened", "bob", "resolved", "reopened"),
        ("responded", "bob", "reopened", "responded"),
    ]
    assert events[2].details == {"note": "DM sent"}
    assert events[4].details == {"reason": "customer wrote again"}


@pytest.mark.parametrize(
    ("steps", "action", "message"),
    [
        ([], "reopen", "cannot reopen a ticket that is new"),
        (["resolve"], "resolve", "cannot resolve a ticket that is resolved"),
        (["resolve"], "claim", "cannot claim a ticket that is resolved"),
        (["resolve"], "respond", "cannot respond to a ticket that is resolved"),
        (["claim"], "claim", "already assigned to alice"),
    ],
)
def test_impossible_transitions_are_conflicts_and_leave_no_trace(stores, steps, action, message):
    store, inbox = stores
    tid = _open(store, "1")
    for step in steps:
        getattr(inbox, step)(None, tid, "alice")
    before = inbox.get(None, tid)
    with pytest.raises(Conflict, match=message):
        getattr(inbox, action)(None, tid, "alice")
    assert inbox.get(None, tid) == before


def test_a_team_sees_and_changes_only_its_own_tickets(stores):
    store, inbox = stores
    mine = _open(store, "1", team=Team.SALES, category=Category.LEAD)
    theirs = _open(store, "2", team=Team.PR)
    assert [t.id for t in inbox.list(Team.SALES, TicketFilter()).items] == [mine]
    assert inbox.list(Team.SALES, TicketFilter(team=Team.PR)).total == 1  # the team filter cannot widen scope
    for call in (lambda: inbox.get(Team.SALES, theirs), lambda: inbox.claim(Team.SALES, theirs, "eve"),
                 lambda: inbox.resolve(Team.SALES, theirs, "eve"), lambda: inbox.relabel(Team.SALES, theirs, "eve", Category.PRAISE),
                 lambda: inbox.reroute(Team.SALES, theirs, "eve", Team.SALES)):
        with pytest.raises(TicketNotFound):
            call()
    assert inbox.get(None, theirs).ticket.status == TicketStatus.NEW  # admin sees all; nothing changed
    assert inbox.list(None, TicketFilter()).total == 2


def test_reroute_hands_over_unassigned_and_leaves_the_old_team_blind(stores):
    store, inbox = stores
    tid = _open(store, "1", team=Team.REVIEW)
    inbox.claim(Team.REVIEW, tid, "rita")
    moved = inbox.reroute(Team.REVIEW, tid, "rita", Team.CUSTOMER_SERVICE, reason="clearly a complaint")
    assert (moved.team, moved.status, moved.assignee) == (Team.CUSTOMER_SERVICE, TicketStatus.NEW, None)
    with pytest.raises(TicketNotFound):
        inbox.get(Team.REVIEW, tid)
    detail = inbox.get(Team.CUSTOMER_SERVICE, tid)
    assert detail.events[-1].details == {"from_team": "review", "to_team": "customer_service", "reason": "clearly a complaint"}
    with store.engine.connect() as conn:
        assert conn.execute(select(MentionRow.team).where(MentionRow.id == detail.mention.id)).scalar_one() == "customer_service"
    with pytest.raises(Conflict, match="already with customer_service"):
        inbox.reroute(None, tid, "admin", Team.CUSTOMER_SERVICE)


def test_relabel_is_stored_as_feedback_for_retraining(stores):
    store, inbox = stores
    tid = _open(store, "1", category=Category.COMPLAINT)
    relabelled = inbox.relabel(Team.CUSTOMER_SERVICE, tid, "alice", Category.QUESTION)
    assert relabelled.category == Category.QUESTION
    detail = inbox.get(None, tid)
    assert detail.mention.category == Category.COMPLAINT  # what the model said stays on record
    with store.engine.connect() as conn:
        [fb] = conn.execute(select(CategoryFeedbackRow.__table__)).all()
    assert (fb.model_category, fb.old_category, fb.new_category, fb.actor) == ("complaint", "complaint", "question", "alice")
    assert fb.text == detail.mention.text and fb.language == "en"
    with pytest.raises(Conflict):
        inbox.relabel(None, tid, "alice", Category.QUESTION)


def test_sla_breach_flags(stores):
    store, inbox = stores
    now = utcnow()
    late = _open(store, "1", created=now - timedelta(hours=2), due=timedelta(hours=1))  # unanswered past due
    fine = _open(store, "2", created=now, due=timedelta(hours=1))
    view = inbox.get(None, late).ticket
    assert view.first_response_breached and not view.resolution_breached
    assert [t.id for t in inbox.list(None, TicketFilter(sla_breached=True)).items] == [late]
    assert [t.id for t in inbox.list(None, TicketFilter(sla_breached=False)).items] == [fine]
    answered = inbox.respond(None, late, "alice")
    assert answered.first_response_breached  # answered late stays breached
    assert inbox.respond(None, fine, "alice").first_response_breached is False


def test_filters_and_pagination(stores):
    store, inbox = stores
    base = utcnow() - timedelta(minutes=30)
    for i in range(7):
        _open(store, str(i), language="de" if i % 2 else "en", platform="vk" if i < 3 else "x",
              priority=Priority.URGENT if i == 6 else Priority.HIGH, created=base + timedelta(minutes=i))
    everything = inbox.list(None, TicketFilter(limit=3))
    assert (everything.total, len(everything.items)) == (7, 3)
    assert [t.mention_id for t in everything.items] == ["x:6", "x:5", "x:4"]  # newest first
    page3 = inbox.list(None, TicketFilter(limit=3, offset=6))
    assert [t.mention_id for t in page3.items] == ["vk:0"]
    assert inbox.list(None, TicketFilter(language="de")).total == 3
    assert inbox.list(None, TicketFilter(platform="vk")).total == 3
    assert [t.mention_id for t in inbox.list(None, TicketFilter(priority=Priority.URGENT)).items] == ["x:6"]
    inbox.resolve(None, inbox.list(None, TicketFilter(limit=1)).items[0].id, "alice")
    assert inbox.list(None, TicketFilter(status=TicketStatus.RESOLVED)).total == 1
    assert inbox.list(None, TicketFilter(status=TicketStatus.NEW, category=Category.COMPLAINT)).total == 6

