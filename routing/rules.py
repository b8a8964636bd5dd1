"""The rules language: rule sets, rules and actions, validated by pydantic.

Kept apart from the engine (as business-rules keeps conditions and actions
apart from its engine): ``routing.conditions`` describes what a rule tests,
this module what a rule does; ``routing.engine`` evaluates and
``routing.loader`` reads files.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from mentionflow.config_files import LocatedValueError
from mentionflow.models import Priority, Team
from routing.conditions import Condition

__all__ = ["Action", "Rule", "RuleSet", "SlaTarget", "parse_duration"]

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


class SlaTarget(_Strict):
    first_response: Duration
    resolution: Duration

    @model_validator(mode="after")
    def _ordered(self) -> SlaTarget:
        if self.first_response <= timedelta(0):
            raise ValueError("first-response target must be positive")
        if self.resolution < self.first_response:
            raise ValueError("resolution target is shorter than the first-response target")
        return self


def _team_none(value: Any) -> Any:
    """``team: none`` is the long-standing spelling of ``suppress: true``."""
    if isinstance(value, dict) and value.get("team") == "none":
        rest = {k: v for k, v in value.items() if k != "team"}
        if rest.get("suppress") is False:
            raise ValueError("team: none contradicts suppress: false")
        return {**rest, "suppress": True}
    return value


class Action(_Strict):
    """What happens to a mention a rule matches: exactly one of

    * ``team: <team>``: a ticket for that team;
    * ``review: true``: a ticket in the human review queue (``team`` then
      names the team the reviewers are expected to pass it to);
    * ``suppress: true`` (or ``team: none``): stored for reports, no ticket.

    ``priority``, ``sla`` (overriding the rule set's target for the
    priority), ``tags`` and ``cc`` (teams notified besides the owner) apply
    to the ticket.
    """

    team: Team | None = None
    review: bool = False
    suppress: bool = False
    priority: Priority = Priority.NORMAL
    sla: SlaTarget | None = None
    tags: list[Annotated[str, Field(pattern=r"^[\w.:/-]{1,64}$")]] = Field(default_factory=list)
    cc: list[Team] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, value: Any) -> Any:
        return _team_none(value)

    @model_validator(mode="after")
    def _one_outcome(self) -> Action:
        if self.suppress and (self.team or self.review):
            raise ValueError("suppress: true means no ticket; it cannot also set team or review")
        if not (self.suppress or self.review or self.team):
            raise ValueError("an action needs team: <team>, review: true or suppress: true")
        if self.team is Team.REVIEW:
            raise ValueError("send to the review queue with review: true, not team: review")
        if self.suppress and (self.cc or self.sla):
            raise ValueError("a suppressed mention gets no ticket, so cc and sla have nothing to apply to")
        owner = Team.REVIEW if self.review else self.team
        if owner in self.cc:
            raise ValueError(f"cc lists the owning team {owner.value}")
        if len(set(self.cc)) != len(self.cc):
            raise ValueError("cc lists a team twice")
        return self

    @property
    def creates_ticket(self) -> bool:
        return not self.suppress

    @property
    def owner(self) -> Team | None:
        """The team whose queue the ticket lands in."""
        if self.suppress:
            return None
        return Team.REVIEW if self.review else self.team


class Rule(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,127}$")
    description: str = ""
    when: Condition
    then: Action


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

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from None
        return value

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def sla_for(self, action: Action) -> SlaTarget:
        return action.sla or self.sla[action.priority]

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
