from datetime import timedelta

from mentionflow.models import Category, Priority, Team
from routing.engine import NO_MATCH, MentionFacts, RoutingEngine
from routing.loader import parse_rules
from tests.factories import T0, make_classified, make_mention


def engine(rules: str) -> RoutingEngine:
    return RoutingEngine(parse_rules("version: 1\nrules:\n" + rules))


def facts(**over) -> MentionFacts:
    base = {"category": Category.QUESTION, "confidence": 0.9, "language": "de", "platform": "x",
            "brand": "fluxo", "followers": 500, "verified": False}
    return MentionFacts(**{**base, **over})


def test_first_matching_rule_wins():
    e = engine(
        "  - {id: a, when: {category: question}, then: {team: sales}}\n"
        "  - {id: b, when: {category: question}, then: {team: pr}}\n"
    )
    assert e.decide(facts()).rule_id == "a"


def test_text_tests_are_case_insensitive_and_support_lists():
    e = engine(
        "  - {id: de, when: {language: [DE, at]}, then: {team: sales}}\n"
        "  - {id: not-x, when: {platform: {ne: x}}, then: {team: pr}}\n"
    )
    assert e.decide(facts()).rule_id == "de"
    assert e.decide(facts(language="fr", platform="vk")).rule_id == "not-x"
    assert e.decide(facts(language="fr")).rule_id == NO_MATCH


def test_numeric_comparisons_and_booleans():
    e = engine(
        "  - {id: shaky, when: {confidence: {lt: 0.5}}, then: {team: customer_service, priority: low}}\n"
        "  - {id: vip, when: {all: [{verified: true}, {followers: {gt: 1000, lte: 5000}}]}, then: {team: pr}}\n"
    )
    assert e.decide(facts(confidence=0.3)).rule_id == "shaky"
    assert e.decide(facts(verified=True, followers=5000)).rule_id == "vip"
    assert e.decide(facts(verified=True, followers=5001)).rule_id == NO_MATCH
    assert e.decide(facts(verified=False, followers=3000)).rule_id == NO_MATCH


def test_any_and_not():
    e = engine("  - {id: r, when: {any: [{brand: skyjet}, {not: {category: question}}]}, then: {team: pr}}\n")
    assert e.decide(facts(brand="skyjet")).rule_id == "r"
    assert e.decide(facts(category=Category.PRAISE)).rule_id == "r"
    assert e.decide(facts()).rule_id == NO_MATCH


def test_suppress_creates_no_ticket():
    e = engine("  - {id: mute, when: {category: question}, then: {team: none}}\n")
    c = make_classified(make_mention(), category=Category.QUESTION)
    decision = e.decide(MentionFacts.of(c))
    assert decision.team is None
    assert e.ticket_for(c, decision) is None


def test_ticket_carries_rule_reasons_and_sla():
    e = engine("  - {id: big, description: loud, when: {followers: {gte: 100}}, then: {team: pr, priority: urgent}}\n")
    c = make_classified(make_mention(followers=150))
    decision = e.decide(MentionFacts.of(c))
    ticket = e.ticket_for(c, decision, now=T0)
    assert ticket is not None
    assert (ticket.team, ticket.priority, ticket.rule_id) == (Team.PR, Priority.URGENT, "big")
    assert ticket.reasons == ["rule big: loud", "author followers 150 >= 100"]
    assert ticket.first_response_due_at == T0 + timedelta(minutes=30)  # default urgent targets
    assert ticket.resolution_due_at == T0 + timedelta(hours=4)
    assert ticket.mention_id == c.id
