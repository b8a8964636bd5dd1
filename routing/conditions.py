"""Conditions of the rules language: what a ``when:`` may say.

A condition is ``all: [...]``, ``any: [...]``, ``not: {...}`` or one test of
one fact of the mention::

    category: complaint                        # equality
    language: [de, fr]                         # membership
    followers: {gte: 10000}                    # comparison
    brand: {not_in: [test-brand]}
    needs_review: true                         # also: verified, spam, spike
    keyword: [refund*, chargeback]             # any word, any language
    keyword: {en: [refund*], de: [rückerstattung*, geld zurück]}   # per language
    regex: '\\b(lawyer|lawsuit)\\b'
    regex: {pattern: 'r[eé]clamation', language: [fr]}
    time_of_day: {from: "22:00", to: "07:00"}  # in the rule set's time zone
    weekday: [sat, sun]

Only description and validation live here; ``routing.engine`` evaluates.
Keyword and regex patterns are compiled once, at load.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, PrivateAttr, Tag, model_validator

from mentionflow.models import Category
from mentionflow.text_match import compile_keywords, compile_regex

__all__ = [
    "ALL_LANGUAGES",
    "AllOf",
    "AnyOf",
    "Condition",
    "FACTS",
    "KeywordTest",
    "Leaf",
    "NotOf",
    "NumberTest",
    "RegexTest",
    "TextTest",
    "TimeWindow",
    "WEEKDAYS",
]

ALL_LANGUAGES = "*"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_LANGUAGE_KEY = re.compile(r"^([a-z]{2,3}|\*)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class NumberTest(_Strict):
    eq: float | None = None
    ne: float | None = None
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None

    @model_validator(mode="after")
    def _one_or_more(self) -> NumberTest:
        if all(v is None for v in self.model_dump().values()):
            raise ValueError("a comparison needs at least one of eq, ne, gt, gte, lt, lte")
        return self


class TextTest(_Strict):
    eq: str | None = None
    ne: str | None = None
    in_: list[str] | None = Field(default=None, alias="in")
    not_in: list[str] | None = None

    @model_validator(mode="after")
    def _one_or_more(self) -> TextTest:
        if all(v is None for v in (self.eq, self.ne, self.in_, self.not_in)):
            raise ValueError("a text test needs at least one of eq, ne, in, not_in")
        return self


class KeywordTest(_Strict):
    """Whole-word keywords per language; ``*`` lists apply to every language."""

    by_language: dict[str, list[str]]
    _compiled: dict[str, re.Pattern[str]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            return {"by_language": {ALL_LANGUAGES: value}}
        if isinstance(value, dict) and "by_language" not in value:
            return {"by_language": value}
        return value

    @model_validator(mode="after")
    def _compile(self) -> KeywordTest:
        for lang, words in self.by_language.items():
            if not _LANGUAGE_KEY.match(lang):
                raise ValueError(f"keyword lists are keyed by language code (en, de, ...) or '*', not {lang!r}")
            self._compiled[lang] = compile_keywords(words)
        return self

    def patterns_for(self, language: str | None) -> list[re.Pattern[str]]:
        out = [self._compiled[ALL_LANGUAGES]] if ALL_LANGUAGES in self._compiled else []
        if language and language in self._compiled:
            out.append(self._compiled[language])
        return out


class RegexTest(_Strict):
    pattern: str = Field(min_length=1)
    language: list[str] | None = None
    _compiled: re.Pattern[str] | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"pattern": value}
        if isinstance(value, dict) and isinstance(value.get("language"), str):
            return {**value, "language": [value["language"]]}
        return value

    @model_validator(mode="after")
    def _compile(self) -> RegexTest:
        self._compiled = compile_regex(self.pattern)
        return self

    @property
    def compiled(self) -> re.Pattern[str]:
        assert self._compiled is not None
        return self._compiled


def _clock(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):  # YAML 1.1 reads 22:00 as 1320
        return time(value // 60 % 24, value % 60)
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        hours, minutes = (int(p) for p in value.strip().split(":"))
        if hours == 24 and minutes == 0:
            return time(23, 59, 59, 999999)
        return time(hours, minutes)
    if isinstance(value, time):
        return value
    raise ValueError(f"not a time of day: {value!r} (write HH:MM, e.g. 22:00)")


Clock = Annotated[time, BeforeValidator(_clock)]


class TimeWindow(_Strict):
    """``[from, to)`` on the clock; a window that ends before it starts wraps midnight."""

    from_: Clock = Field(alias="from")
    to: Clock

    @model_validator(mode="after")
    def _not_empty(self) -> TimeWindow:
        if self.from_ == self.to:
            raise ValueError("time_of_day window is empty: 'from' equals 'to'")
        return self

    def contains(self, t: time) -> bool:
        if self.from_ < self.to:
            return self.from_ <= t < self.to
        return t >= self.from_ or t < self.to


_FULL_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _weekdays(value: Any) -> Any:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        return value
    out = []
    for item in items:
        word = str(item).strip().casefold()
        if word in _FULL_WEEKDAYS:
            word = WEEKDAYS[_FULL_WEEKDAYS.index(word)]
        if word not in WEEKDAYS:
            raise ValueError(f"not a weekday: {item!r} (use mon, tue, wed, thu, fri, sat, sun)")
        out.append(word)
    return out


def _text_test(value: Any) -> Any:
    """Shorthands: a scalar means ``eq``, a list means ``in``."""
    if isinstance(value, str):
        return {"eq": value}
    if isinstance(value, list):
        return {"in": value}
    return value


def _number_test(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"eq": value}
    return value


def _category_test(value: Any) -> Any:
    value = _text_test(value)
    if isinstance(value, dict):
        for key in ("eq", "ne"):
            if value.get(key) is not None:
                Category(value[key])  # names the bad category in the error
        for key in ("in", "not_in"):
            for item in value.get(key) or []:
                Category(item)
    return value


TextCondition = Annotated[TextTest, BeforeValidator(_text_test)]
CategoryCondition = Annotated[TextTest, BeforeValidator(_category_test)]
NumberCondition = Annotated[NumberTest, BeforeValidator(_number_test)]
WeekdayCondition = Annotated[list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]], BeforeValidator(_weekdays)]

FACTS = (
    "category", "confidence", "needs_review", "language", "platform", "brand", "followers",
    "verified", "spam", "spike", "keyword", "regex", "time_of_day", "weekday",
)


class Leaf(_Strict):
    """One test on one fact of the mention."""

    category: CategoryCondition | None = None
    confidence: NumberCondition | None = None
    needs_review: bool | None = None
    language: TextCondition | None = None
    platform: TextCondition | None = None
    brand: TextCondition | None = None
    followers: NumberCondition | None = None
    verified: bool | None = None
    spam: bool | None = None
    spike: bool | None = None
    keyword: KeywordTest | None = None
    regex: RegexTest | None = None
    time_of_day: TimeWindow | None = None
    weekday: WeekdayCondition | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Leaf:
        given = [f for f in FACTS if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a condition tests exactly one of {', '.join(FACTS)} (or is all/any/not); got {given or 'none'}"
            )
        return self

    @property
    def fact(self) -> str:
        return next(f for f in FACTS if getattr(self, f) is not None)


class AllOf(_Strict):
    all: list[Condition] = Field(min_length=1)


class AnyOf(_Strict):
    any: list[Condition] = Field(min_length=1)


class NotOf(_Strict):
    not_: Condition = Field(alias="not")


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("all", "any", "not"):
            if key in value:
                return key
    elif isinstance(value, BaseModel):
        return {AllOf: "all", AnyOf: "any", NotOf: "not"}.get(type(value), "leaf")
    return "leaf"


Condition = Annotated[
    Annotated[AllOf, Tag("all")] | Annotated[AnyOf, Tag("any")] | Annotated[NotOf, Tag("not")]
    | Annotated[Leaf, Tag("leaf")],
    Discriminator(_kind),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()
