"""Evaluating rules against a mention: first match wins, and says why."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from mentionflow.models import Category, ClassifiedMention, Priority, Team, Ticket, ticket_id_for, utcnow
from routing.facts import MentionFacts
from routing.conditions import AllOf, AnyOf, Condition, KeywordTest, Leaf, NotOf, NumberTest, RegexTest, TextTest
from routing.rules import Rule, RuleSet, SlaTarget
from mentionflow.text_match import MAX_MATCH_CHARS, normalise_for_match

__all__ = ["Decision", "MentionFacts", "NO_MATCH", "RoutingEngine"]  # MentionFacts re-exported

NO_MATCH = "no-match"


@dataclass(frozen=True)
class Decision:
    """The outcome for one mention. ``team`` is the owning queue (``review``
    for the review queue) or None when no ticket is made."""

    rule_id: str
    team: Team | None
    priority: Priority | None
    reasons: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    cc: list[Team] = field(default_factory=list)
    suggested_team: Team | None = None
    sla: SlaTarget | None = None


_OPS = {"eq": "==", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_CHECKS: dict[str, Callable[[float, float], bool]] = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b,
}


def _shown(value: float, digits: int = 2) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:.{digits}f}"


def _number(name: str, value: float, test: NumberTest) -> tuple[bool, str]:
    parts = []
    for op, bound in test.model_dump().items():
        if bound is None:
            continue
        if not _CHECKS[op](value, bound):
            return False, ""
        parts.append(f"{_OPS[op]} {_shown(bound)}")
    return True, f"{name} {_shown(value)} {' and '.join(parts)}"


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


class _Evaluation:
    """One mention against one rule set: derived views of the text and the
    local time are computed at most once, however many rules look at them."""

    def __init__(self, facts: MentionFacts, rules: RuleSet) -> None:
        self.facts = facts
        self._rules = rules
        self._folded: str | None = None
        self._local: datetime | None = None

    @property
    def folded_text(self) -> str:
        if self._folded is None:
            self._folded = normalise_for_match(self.facts.text)
        return self._folded

    @property
    def local_time(self) -> datetime | None:
        if self._local is None and self.facts.created_at is not None:
            self._local = self.facts.created_at.astimezone(self._rules.zone)
        return self._local

    def holds(self, cond: Condition) -> tuple[bool, list[str]]:
        """Whether ``cond`` holds, and the human-readable reasons if it does."""
        if isinstance(cond, AllOf):
            reasons: list[str] = []
            for child in cond.all:
                ok, why = self.holds(child)
                if not ok:
                    return False, []
                reasons.extend(why)
            return True, reasons
        if isinstance(cond, AnyOf):
            for child in cond.any:
                ok, why = self.holds(child)
                if ok:
                    return True, why
            return False, []
        if isinstance(cond, NotOf):
            ok, _ = self.holds(cond.not_)
            return (not ok), ([] if ok else ["a 'not' condition held"])
        ok, why = self._leaf(cond)
        return ok, [why] if ok else []

    def _leaf(self, leaf: Leaf) -> tuple[bool, str]:
        f = self.facts
        fact = leaf.fact
        test = getattr(leaf, fact)
        if fact in ("verified", "needs_review", "spam", "spike"):
            return self._flag(fact, test)
        if fact == "followers":
            return _number("author followers", f.followers, test)
        if fact == "confidence":
            return _number("confidence", f.confidence, test)
        if fact == "keyword":
            return self._keyword(test)
        if fact == "regex":
            return self._regex(test)
        if fact in ("time_of_day", "weekday"):
            return self._clock(fact, test)
        value = getattr(f, fact)
        return _text(fact, value.value if isinstance(value, Category) else value, test)

    def _flag(self, fact: str, wanted: bool) -> tuple[bool, str]:
        value = bool(getattr(self.facts, fact))
        words = {
            "verified": ("author is verified", "author is not verified"),
            "needs_review": ("classification needs review", "classification is confident"),
            "spam": (f"likely spam or a bot: {'; '.join(self.facts.spam_reasons)}", "not spam"),
            "spike": (f"{self.facts.brand} is in a mention spike", f"{self.facts.brand} is not in a spike"),
        }[fact]
        return value is wanted, words[0] if value else words[1]

    def _keyword(self, test: KeywordTest) -> tuple[bool, str]:
        for pattern in test.patterns_for(self.facts.language):
            if m := pattern.search(self.folded_text):
                return True, f"text contains {m.group(0)!r}"
        return False, ""

    def _regex(self, test: RegexTest) -> tuple[bool, str]:
        if test.language is not None and (self.facts.language or "") not in test.language:
            return False, ""
        if m := test.compiled.search(self.facts.text[:MAX_MATCH_CHARS]):
            return True, f"text matches /{test.pattern}/ at {m.group(0)!r}"
        return False, ""

    def _clock(self, fact: str, test: object) -> tuple[bool, str]:
        local = self.local_time
        if local is None:
            return False, ""
        if fact == "weekday":
            day = local.strftime("%a").casefold()
            return day in test, f"posted on a {local.strftime('%A')} ({self._rules.timezone})"  # type: ignore[operator]
        ok = test.contains(local.time())  # type: ignore[attr-defined]
        return ok, f"posted at {local.strftime('%H:%M')} {self._rules.timezone}"


class RoutingEngine:
    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules

    def decide(self, facts: MentionFacts) -> Decision:
        evaluation = _Evaluation(facts, self.rules)
        for rule in self.rules.rules:
            ok, reasons = evaluation.holds(rule.when)
            if ok:
                return self._decision(rule, reasons)
        return Decision(NO_MATCH, None, None, ["no rule matched"])

    def _decision(self, rule: Rule, reasons: list[str]) -> Decision:
        action = rule.then
        reasons = [f"rule {rule.id}: {rule.description}".rstrip(": ")] + reasons
        if not action.creates_ticket:
            return Decision(rule.id, None, None, reasons + ["suppressed: no ticket"], list(action.tags))
        if action.review:
            reasons.append("sent to the human review queue")
        return Decision(
            rule_id=rule.id,
            team=action.owner,
            priority=action.priority,
            reasons=reasons,
            tags=list(action.tags),
            cc=list(action.cc),
            suggested_team=action.team if action.review else None,
            sla=self.rules.sla_for(action),
        )

    def ticket_for(self, classified: ClassifiedMention, decision: Decision, now: datetime | None = None) -> Ticket | None:
        if decision.team is None or decision.priority is None or decision.sla is None:
            return None
        created = now or utcnow()
        return Ticket(
            id=ticket_id_for(classified.id),
            mention_id=classified.id,
            team=decision.team,
            priority=decision.priority,
            rule_id=decision.rule_id,
            reasons=decision.reasons,
            category=classified.category,
            brand=classified.mention.brand,
            language=classified.language or classified.mention.language,
            platform=classified.mention.platform,
            tags=decision.tags,
            cc=decision.cc,
            suggested_team=decision.suggested_team,
            first_response_due_at=created + decision.sla.first_response,
            resolution_due_at=created + decision.sla.resolution,
            created_at=created,
        )

