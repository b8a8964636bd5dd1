"""Every condition type of the rules language, evaluated by the engine."""

from datetime import datetime, timezone

import pytest

from mentionflow.models import Category
from routing.engine import NO_MATCH, MentionFacts, RoutingEngine
from routing.loader import RulesError, parse_rules


def engine(when: str, timezone_: str = "UTC") -> RoutingEngine:
    text = f"version: 1\ntimezone: {timezone_}\nrules:\n  - id: r\n    when: {when}\n    then: {{team: pr}}\n"
    return RoutingEngine(parse_rules(text))


def facts(**over) -> MentionFacts:
    base = {"category": Category.COMPLAINT, "confidence": 0.9, "language": "en", "platform": "x",
            "brand": "parcelo", "followers": 500, "text": "my parcel is late"}
    return MentionFacts(**{**base, **over})


def matches(e: RoutingEngine, **over) -> bool:
    return e.decide(facts(**over)).rule_id == "r"


def test_needs_review_flag():
    e = engine("{needs_review: true}")
    assert matches(e, needs_review=True)
    assert not matches(e, needs_review=False)


def test_confidence_range():
    e = engine("{confidence: {gte: 0.4, lt: 0.6}}")
    assert matches(e, confidence=0.4) and matches(e, confidence=0.59)
    assert not matches(e, confidence=0.6) and not matches(e, confidence=0.39)


@pytest.mark.parametrize(
    ("when", "text", "language", "expected"),
    [
        ("{keyword: [refund]}", "Where is my REFUND?", "en", True),
        ("{keyword: [refund]}", "refunded yesterday, thanks", "en", False),  # whole words only
        ("{keyword: ['refund*']}", "refunded yesterday", "en", True),  # prefix
        ("{keyword: [money back]}", "I want my money\n  back", "en", True),  # phrases, any spacing
        ("{keyword: ['zwrot pieniędzy']}", "gdzie moj ZWROT PIENIEDZY??", "pl", True),  # no ogonki
        ("{keyword: ['pieniedzy']}", "zwrot pieniędzy", "pl", True),  # and the other way round
        ("{keyword: ['straße']}", "STRASSE gesperrt", "de", True),  # full case folding
        ("{keyword: ['возврат*']}", "где ВОЗВРАТА денег?", "ru", True),  # Cyrillic, inflected
        ("{keyword: ['мой']}", "мои деньги", "ru", False),  # Cyrillic letters keep their marks
        ("{keyword: [iade]}", "İADE ne zaman?", "tr", True),  # Turkish dotted capital I
        ("{keyword: {de: [erstattung]}}", "erstattung please", "en", False),  # per language
        ("{keyword: {de: [erstattung]}}", "Erstattung bitte", "de", True),
        ("{keyword: {'*': [lawyer], de: [anwalt]}}", "mein Anwalt meldet sich", "de", True),
        ("{keyword: {'*': [lawyer], de: [anwalt]}}", "my lawyer will call", "de", True),
    ],
)
def test_keywords_are_unicode_aware_case_folded_and_per_language(when, text, language, expected):
    assert matches(engine(when), text=text, language=language) is expected


def test_regex_is_case_insensitive_and_can_be_limited_to_languages():
    e = engine(r"""{regex: {pattern: '\b(sue|lawsuit)\b', language: [en]}}""")
    assert matches(e, text="We will SUE you", language="en")
    assert not matches(e, text="We will SUE you", language="de")
    assert not matches(e, text="pursue happiness", language="en")
    decision = engine(r"""{regex: 'order #\d{6}'}""").decide(facts(text="Order #123456 lost"))
    assert "text matches /order #\\d{6}/ at 'Order #123456'" in decision.reasons


def test_time_of_day_in_the_configured_zone_wraps_midnight():
    e = engine("{time_of_day: {from: '22:00', to: '07:00'}}", timezone_="Europe/Warsaw")
    # 21:30 UTC is 22:30 in Warsaw in November (UTC+1)
    assert matches(e, created_at=datetime(2026, 11, 20, 21, 30, tzinfo=timezone.utc))
    assert matches(e, created_at=datetime(2026, 11, 20, 5, 59, tzinfo=timezone.utc))
    assert not matches(e, created_at=datetime(2026, 11, 20, 6, 0, tzinfo=timezone.utc))
    assert not matches(e, created_at=datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc))
    assert not matches(e, created_at=None)  # no time, no match
    day = engine("{time_of_day: {from: '09:00', to: '17:30'}}")
    assert matches(day, created_at=datetime(2026, 11, 20, 17, 29, tzinfo=timezone.utc))
    assert not matches(day, created_at=datetime(2026, 11, 20, 17, 30, tzinfo=timezone.utc))


def test_weekday_in_the_configured_zone():
    e = engine("{weekday: [sat, Sunday]}", timezone_="Asia/Tokyo")
    friday_utc_saturday_tokyo = datetime(2026, 11, 20, 16, 0, tzinfo=timezone.utc)  # Sat 01:00 JST
    assert matches(e, created_at=friday_utc_saturday_tokyo)
    assert not matches(e, created_at=datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc))  # Fri 21:00 JST


def test_spike_and_spam_flags():
    assert matches(engine("{spike: true}"), spike=True)
    assert not matches(engine("{spike: true}"), spike=False)
    spam = engine("{spam: true}").decide(facts(spam_reasons=("promotional phrase 'giveaway'", "2 links")))
    assert spam.rule_id == "r"
    assert any("giveaway" in r for r in spam.reasons)
    assert not matches(engine("{spam: true}"))


def test_combinations_explain_themselves():
    e = engine("{all: [{category: complaint}, {any: [{keyword: [refund]}, {followers: {gte: 10000}}]}, {not: {brand: test}}]}")
    decision = e.decide(facts(text="refund now"))
    assert decision.reasons == [
        "rule r", "category is complaint", "text contains 'refund'", "a 'not' condition held",
    ]
    assert e.decide(facts(text="hello")).rule_id == NO_MATCH


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        ("{keyword: []}", "keyword list is empty"),
        ("{keyword: {english: [x]}}", "keyed by language code"),
        ("{regex: '(unclosed'}", "does not compile"),
        ("{time_of_day: {from: '25:00', to: '07:00'}}", "hour must be in 0..23"),
        ("{time_of_day: {from: '08:00', to: '08:00'}}", "window is empty"),
        ("{weekday: [someday]}", "not a weekday"),
        ("{category: complain}", "'complain' is not a valid Category"),
        ("{category: complaint, language: en}", "exactly one of"),
    ],
)
def test_bad_conditions_are_named(when, problem):
    with pytest.raises(RulesError) as exc:
        engine(when)
    assert problem in str(exc.value)
    assert "<rules>:5:" in str(exc.value)  # the line of the condition


def test_unknown_time_zone_is_named():
    with pytest.raises(RulesError, match="unknown time zone 'Mars/Olympus'"):
        engine("{category: complaint}", timezone_="Mars/Olympus")
