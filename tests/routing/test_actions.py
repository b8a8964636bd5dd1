"""Every action type of the rules language, down to the ticket it makes."""

from datetime import timedelta

import pytest

from mentionflow.models import Category, Priority, Team
from routing.engine import MentionFacts, RoutingEngine
from routing.loader import RulesError, parse_rules
from tests.factories import T0, make_classified, make_mention

SLA = """sla:
  urgent: {first_response: 15m, resolution: 2h}
  high:   {first_response: 1h,  resolution: 8h}
  normal: {first_response: 4h,  resolution: 2d}
  low:    {first_response: 1d,  resolution: 5d}
"""


def ticket_for(then: str, category: Category = Category.COMPLAINT):
    e = RoutingEngine(parse_rules(f"version: 1\n{SLA}rules:\n  - id: r\n    when: {{category: {category.value}}}\n    then: {then}\n"))
    c = make_classified(make_mention(), category=category)
    decision = e.decide(MentionFacts.of(c))
    return decision, e.ticket_for(c, decision, now=T0)


def test_assign_team_with_priority_and_its_sla():
    decision, ticket = ticket_for("{team: customer_service, priority: urgent}")
    assert (ticket.team, ticket.priority) == (Team.CUSTOMER_SERVICE, Priority.URGENT)
    assert ticket.first_response_due_at == T0 + timedelta(minutes=15)
    assert ticket.resolution_due_at == T0 + timedelta(hours=2)
    assert ticket.suggested_team is None


def test_priority_defaults_to_normal():
    _, ticket = ticket_for("{team: sales}", Category.LEAD)
    assert ticket.priority == Priority.NORMAL
    assert ticket.resolution_due_at == T0 + timedelta(days=2)


def test_rule_sla_overrides_the_priority_target():
    _, ticket = ticket_for("{team: pr, priority: high, sla: {first_response: 10m, resolution: 1h}}")
    assert ticket.first_response_due_at == T0 + timedelta(minutes=10)
    assert ticket.resolution_due_at == T0 + timedelta(hours=1)


def test_tags_and_cc():
    _, ticket = ticket_for("{team: customer_service, tags: [refund, 'billing:card'], cc: [pr, sales]}")
    assert ticket.tags == ["refund", "billing:card"]
    assert ticket.cc == [Team.PR, Team.SALES]


@pytest.mark.parametrize("then", ["{suppress: true}", "{team: none}", "{suppress: true, tags: [muted]}"])
def test_suppress_stores_but_makes_no_ticket(then):
    decision, ticket = ticket_for(then)
    assert ticket is None and decision.team is None
    assert decision.reasons[-1] == "suppressed: no ticket"


def test_review_queue_keeps_the_suggested_team():
    decision, ticket = ticket_for("{review: true, team: customer_service, priority: high}")
    assert ticket.team == Team.REVIEW
    assert ticket.suggested_team == Team.CUSTOMER_SERVICE
    assert "sent to the human review queue" in decision.reasons
    _, bare = ticket_for("{review: true}")
    assert (bare.team, bare.suggested_team) == (Team.REVIEW, None)


@pytest.mark.parametrize(
    ("then", "problem"),
    [
        ("{priority: high}", "needs team: <team>, review: true or suppress: true"),
        ("{team: pr, suppress: true}", "cannot also set team or review"),
        ("{team: pr, cc: [pr]}", "cc lists the owning team pr"),
        ("{team: pr, cc: [sales, sales]}", "cc lists a team twice"),
        ("{team: review}", "with review: true"),
        ("{team: legal}", "'customer_service', 'pr', 'sales', 'marketing'"),
        ("{team: pr, priority: asap}", "'urgent', 'high', 'normal' or 'low'"),
        ("{team: pr, sla: {first_response: 2h, resolution: 1h}}", "shorter than the first-response"),
        ("{team: pr, sla: {first_response: soon, resolution: 1h}}", "not a duration"),
        ("{suppress: true, cc: [pr]}", "nothing to apply to"),
        ("{team: pr, tags: ['has space']}", "should match pattern"),
    ],
)
def test_bad_actions_are_named_with_their_line(then, problem):
    with pytest.raises(RulesError) as exc:
        ticket_for(then)
    assert problem in str(exc.value)
    assert "<rules>:10:" in str(exc.value)  # the line of `then:`
