"""The routing rules language: what a rules file may say, validated by pydantic.

Kept apart from the engine (as business-rules keeps conditions and actions
apart from its engine): this module only describes and validates; see
``routing.engine`` for evaluation and ``routing.loader`` for reading files.

A condition is ``all: [...]``, ``any: [...]``, ``not: {...}`` or one test on
one fact of the mention::

    category: complaint                 # equality
    language: [de, fr]                  # membership
    followers: {gte: 10000}             # comparison
    brand: {not_in: [test-brand]}
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from mentionflow.config_files import LocatedValueError
from mentionflow.models import Category, Priority, Team

__all__ = [
    "Action",
    "AllOf",
    "AnyOf",
    "Condition",
    "Leaf",
    "NotOf",
    "NumberTest",
    "Rule",
    "RuleSet",
    "SlaTarget",
    "TextTest",
    "parse_duration",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: Any) -> timedelta:
    """``"30m"``, ``"4h"``, ``"2d"`` or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})
    raise ValueError(f"not a duration: {value!r} (write e.g. 30m, 4h, 2d)")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


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
            if key in value and value[key] is not None:
                Category(value[key])  # names the bad category in the error
        for key in ("in", "not_in"):
            for item in value.get(key) or []:
                Category(item)
    return value


TextCondition = Annotated[TextTest, BeforeValidator(_text_test)]
CategoryCondition = Annotated[TextTest, BeforeValidator(_category_test)]
NumberCondition = Annotated[NumberTest, BeforeValidator(_number_test)]

FACTS = ("category", "confidence", "language", "platform", "brand", "followers", "verified")


class Leaf(_Strict):
    """One test on one fact of the mention."""

    category: CategoryCondition | None = None
    confidence: NumberCondition | None = None
    language: TextCondition | None = None
    platform: TextCondition | None = None
    brand: TextCondition | None = None
    followers: NumberCondition | None = None
    verified: bool | None = None

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


class Action(_Strict):
    """What happens to a mention a rule matches."""

    team: Team | Literal["none"]
    priority: Priority = Priority.NORMAL
    tags: list[str] = Field(default_factory=list)

    @property
    def creates_ticket(self) -> bool:
        return self.team != "none"


class Rule(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,127}$")
    description: str = ""
    when: Condition
    then: Action


class SlaTarget(_Strict):
    first_response: Duration
    resolution: Duration

    @model_validator(mode="after")
    def _ordered(self) -> SlaTarget:
        if self.resolution < self.first_response:
            raise ValueError("resolution target is shorter than the first-response target")
        return self


def _default_sla() -> dict[Priority, SlaTarget]:
    return {
        Priority.URGENT: SlaTarget(first_response=timedelta(minutes=30), resolution=timedelta(hours=4)),
        Priority.HIGH: SlaTarget(first_response=timedelta(hours=1), resolution=timedelta(hours=8)),
        Priority.NORMAL: SlaTarget(first_response=timedelta(hours=4), resolution=timedelta(hours=48)),
        Priority.LOW: SlaTarget(first_response=timedelta(hours=24), resolution=timedelta(days=5)),
    }


class RuleSet(_Strict):
    version: Literal[1] = 1
    timezone: str = "UTC"
    sla: dict[Priority, SlaTarget] = Field(default_factory=_default_sla)
    rules: list[Rule] = Field(min_length=1)

    @field_validator("sla")
    @classmethod
    def _every_priority(cls, value: dict[Priority, SlaTarget]) -> dict[Priority, SlaTarget]:
        missing = [p.value for p in Priority if p not in value]
        if missing:
            raise ValueError(f"sla has no targets for priority {', '.join(missing)}")
        return value

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, rules: list[Rule]) -> list[Rule]:
        seen: set[str] = set()
        for i, rule in enumerate(rules):
            if rule.id in seen:
                raise LocatedValueError(f"rule id {rule.id!r} is used twice", at=(i, "id"))
            seen.add(rule.id)
        return rules
