"""Evaluating rules against a mention: first match wins, and says why."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mentionflow.models import Category, ClassifiedMention, Priority, Team, Ticket, ticket_id_for, utcnow
from routing.rules import AllOf, AnyOf, Condition, Leaf, NotOf, NumberTest, Rule, RuleSet, TextTest

__all__ = ["Decision", "MentionFacts", "RoutingEngine", "NO_MATCH"]

NO_MATCH = "no-match"


@dataclass(frozen=True)
class MentionFacts:
    """What rules can test, independent of where the mention came from."""

    category: Category
    confidence: float
    language: str | None = None
    platform: str | None = None
    brand: str | None = None
    followers: int = 0
    verified: bool = False

    @classmethod
    def of(cls, c: ClassifiedMention) -> MentionFacts:
        m = c.mention
        return cls(
            category=c.category,
            confidence=c.confidence,
            language=c.language or m.language,
            platform=m.platform,
            brand=m.brand,
            followers=m.author.followers,
            verified=m.author.verified,
        )


@dataclass(frozen=True)
class Decision:
    rule_id: str
    team: Team | None
    priority: Priority | None
    reasons: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


_OPS = {"eq": "==", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _number(name: str, value: float, test: NumberTest) -> tuple[bool, str]:
    checks = {
        "eq": lambda b: value == b, "ne": lambda b: value != b, "gt": lambda b: value > b,
        "gte": lambda b: value >= b, "lt": lambda b: value < b, "lte": lambda b: value <= b,
    }
    parts = []
    for op, bound in test.model_dump().items():
        if bound is None:
            continue
        if not checks[op](bound):
            return False, ""
        shown = f"{bound:,.0f}" if float(bound).is_integer() else f"{bound:g}"
        parts.append(f"{_OPS[op]} {shown}")
    shown_value = f"{value:,.0f}" if float(value).is_integer() else f"{value:.2f}"
    return True, f"{name} {shown_value} {' and '.join(parts)}"


def _text(name: str, value: str | None, test: TextTest) -> tuple[bool, str]:
    v = (value or "").casefold()
    if test.eq is not None and v != test.eq.casefold():
        return False, ""
    if test.ne is not None and v == test.ne.casefold():
        return False, ""
    if test.in_ is not None and v not in {x.casefold() for x in test.in_}:
        return False, ""
    if test.not_in is not None and v in {x.casefold() for x in test.not_in}:
        return False, ""
    return True, f"{name} is {value or 'unknown'}"


def _leaf(leaf: Leaf, facts: MentionFacts) -> tuple[bool, str]:
    fact = leaf.fact
    test = getattr(leaf, fact)
    if fact == "verified":
        ok = facts.verified is test
        return ok, f"author is {'verified' if facts.verified else 'not verified'}"
    if fact == "followers":
        return _number("author followers", facts.followers, test)
    if fact == "confidence":
        return _number("confidence", facts.confidence, test)
    value = getattr(facts, fact)
    return _text(fact, value.value if isinstance(value, Category) else value, test)


def evaluate(cond: Condition, facts: MentionFacts) -> tuple[bool, list[str]]:
    """Whether ``cond`` holds, and the human-readable reasons if it does."""
    if isinstance(cond, AllOf):
        reasons: list[str] = []
        for child in cond.all:
            ok, why = evaluate(child, facts)
            if not ok:
                return False, []
            reasons.extend(why)
        return True, reasons
    if isinstance(cond, AnyOf):
        for child in cond.any:
            ok, why = evaluate(child, facts)
            if ok:
                return True, why
        return False, []
    if isinstance(cond, NotOf):
        ok, _ = evaluate(cond.not_, facts)
        return (not ok), ([] if ok else ["a 'not' condition held"])
    ok, why = _leaf(cond, facts)
    return ok, [why] if ok else []


class RoutingEngine:
    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules

    def decide(self, facts: MentionFacts) -> Decision:
        for rule in self.rules.rules:
            ok, reasons = evaluate(rule.when, facts)
            if ok:
                return self._decision(rule, reasons)
        return Decision(NO_MATCH, None, None, ["no rule matched"])

    def _decision(self, rule: Rule, reasons: list[str]) -> Decision:
        action = rule.then
        reasons = [f"rule {rule.id}: {rule.description}".rstrip(": ")] + reasons
        if not action.creates_ticket:
            return Decision(rule.id, None, None, reasons + ["no ticket"], list(action.tags))
        return Decision(rule.id, Team(action.team), action.priority, reasons, list(action.tags))

    def ticket_for(self, classified: ClassifiedMention, decision: Decision, now: datetime | None = None) -> Ticket | None:
        if decision.team is None or decision.priority is None:
            return None
        created = now or utcnow()
        sla = self.rules.sla[decision.priority]
        return Ticket(
            id=ticket_id_for(classified.id),
            mention_id=classified.id,
            team=decision.team,
            priority=decision.priority,
            rule_id=decision.rule_id,
            reasons=decision.reasons,
            category=classified.category,
            brand=classified.mention.brand,
            sla_due_at=created + sla.first_response,
            created_at=created,
        )
