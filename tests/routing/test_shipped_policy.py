"""The shipped rules file implements the guidelines' default routing policy exactly."""

import pytest

from mentionflow.models import Category, Priority, Team
from mentionflow.settings import PROJECT_ROOT
from routing.engine import MentionFacts, RoutingEngine
from routing.loader import load_rules


@pytest.fixture(scope="module")
def engine():
    return RoutingEngine(load_rules(PROJECT_ROOT / "config" / "routing.yaml"))


# (category, followers) -> team, per labeling-guidelines.md "Default routing policy".
POLICY = [
    ("complaint", 10_000, "pr"),
    ("complaint", 2_500_000, "pr"),
    ("complaint", 9_999, "customer_service"),
    ("complaint", 0, "customer_service"),
    ("question", 50_000, "customer_service"),
    ("question", 3, "customer_service"),
    ("lead", 50_000, "sales"),
    ("lead", 3, "sales"),
    ("praise", 50_000, "marketing"),
    ("praise", 3, "marketing"),
    ("other", 50_000, None),
    ("other", 3, None),
]


@pytest.mark.parametrize(("category", "followers", "team"), POLICY)
def test_default_policy(engine, category, followers, team):
    decision = engine.decide(MentionFacts(category=Category(category), confidence=0.99, followers=followers))
    assert (decision.team.value if decision.team else None) == team
    assert decision.reasons, "every decision says why"


@pytest.mark.parametrize("verified", [True, False])
@pytest.mark.parametrize("confidence", [0.2, 0.99])
def test_policy_ignores_facts_it_does_not_name(engine, verified, confidence):
    facts = MentionFacts(category=Category.COMPLAINT, confidence=confidence, followers=10, verified=verified,
                         language="tr", platform="vk", brand="skyjet")
    assert engine.decide(facts).team == Team.CUSTOMER_SERVICE


def test_high_reach_complaints_are_the_most_urgent(engine):
    pr = engine.decide(MentionFacts(category=Category.COMPLAINT, confidence=0.9, followers=20_000))
    assert pr.rule_id == "complaint-high-reach"
    assert pr.priority == Priority.URGENT
    assert "author followers 20,000 >= 10,000" in pr.reasons


def test_every_category_is_covered(engine):
    for category in Category:
        assert engine.decide(MentionFacts(category=category, confidence=1.0)).rule_id != "no-match"


def test_spam_is_never_ticketed_whatever_its_label(engine):
    # spam is `other` by the guidelines; this catches bots the classifier misreads
    bot = MentionFacts(category=Category.COMPLAINT, confidence=0.9, followers=0,
                       spam_reasons=("auto-generated handle @user84736251 with no followers", "2 links"))
    decision = engine.decide(bot)
    assert decision.team is None and decision.rule_id == "spam"
    assert decision.tags == ["spam"]


def test_commented_examples_are_valid_rules():
    """The examples users are told to adapt must load when uncommented."""
    text = (PROJECT_ROOT / "config" / "routing.yaml").read_text(encoding="utf-8")
    head, examples = text.split("# Examples to adapt (not part of the default policy):\n")
    uncommented = "\n".join(line[1:] for line in examples.splitlines() if line.startswith("#  "))
    from routing.loader import parse_rules

    rules = parse_rules(head + uncommented + "\n", "routing.yaml")
    assert [r.id for r in rules.rules][-4:] == ["crisis", "legal-threat", "unsure", "night-complaints"]
