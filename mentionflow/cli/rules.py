"""``mentionflow rules check|simulate``: change routing rules with evidence.

``simulate`` answers the question a team lead asks before merging a rules
change: "who gets what under the new rules, and which mentions move?". It
only reads: no ticket, topic or table is touched.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import click

from mentionflow.cli.jsonl import LineError, read_objects, report
from mentionflow.settings import get_settings
from routing.engine import Decision, RoutingEngine
from routing.facts import MentionFacts
from routing.loader import RulesError, load_rules

__all__ = ["rules_group"]

NO_TICKET = "none"


@click.group("rules")
def rules_group() -> None:
    """Validate and try out routing rules files."""


@rules_group.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def check_cmd(files: tuple[Path, ...]) -> None:
    """Validate rules FILES; print each problem as file:line: problem.

    Exit status 0 when every file is valid, 1 otherwise.
    """
    bad = 0
    for path in files:
        try:
            rules = load_rules(path)
        except RulesError as exc:
            bad += 1
            click.echo(str(exc), err=True)
            continue
        teams = Counter(r.then.owner.value if r.then.owner else NO_TICKET for r in rules.rules)
        summary = ", ".join(f"{team} {n}" for team, n in sorted(teams.items()))
        click.echo(f"{path}: ok, {len(rules.rules)} rules ({summary}), time zone {rules.timezone}")
    if bad:
        sys.exit(1)


@dataclass(frozen=True)
class _Outcome:
    team: str
    rule: str
    priority: str | None

    @classmethod
    def of(cls, d: Decision) -> _Outcome:
        return cls(d.team.value if d.team else NO_TICKET, d.rule_id, d.priority.value if d.priority else None)


@rules_group.command("simulate")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--input", "input_", required=True, type=click.File("r", encoding="utf-8"),
              help="JSON Lines mentions; lines without \"category\" are classified first")
@click.option("--current", "current_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="rules to compare against (default: the configured rules file)")
@click.option("--spike", "spikes", multiple=True, metavar="BRAND", help="treat BRAND as in a mention spike")
@click.option("--json", "as_json", is_flag=True, help="print the comparison as one JSON object")
def simulate_cmd(file: Path, input_: IO[str], current_path: Path | None, spikes: tuple[str, ...], as_json: bool) -> None:
    """Route --input under FILE and under the current rules; write nothing.

    Prints how many mentions each team gets under each, and every mention
    whose team changes. Exit status 2 when some input lines were unusable
    (they are reported and left out of the counts).
    """
    current_path = current_path or get_settings().rules_file
    try:
        new = RoutingEngine(load_rules(file))
        current = RoutingEngine(load_rules(current_path))
    except RulesError as exc:
        raise click.ClickException(str(exc)) from exc
    spiking = frozenset(b.casefold() for b in spikes)
    items, failed = _classified(input_)
    rows = []
    for item in items:
        try:
            facts = MentionFacts.from_record(item, spiking_brands=spiking)
        except ValueError as exc:
            report(LineError(0, item.get("id"), f"mention {item.get('id')}: {exc}"))
            failed = True
            continue
        rows.append((item, _Outcome.of(current.decide(facts)), _Outcome.of(new.decide(facts))))

    before = Counter(old.team for _, old, _ in rows)
    after = Counter(new_.team for _, _, new_ in rows)
    changes = [(item, old, new_) for item, old, new_ in rows if old.team != new_.team]
    if as_json:
        click.echo(json.dumps({
            "current": str(current_path), "new": str(file), "mentions": len(rows),
            "teams": {t: {"current": before[t], "new": after[t]} for t in _team_order(before, after)},
            "changed": [{"id": item.get("id"), "from": old.team, "to": new_.team, "from_rule": old.rule,
                         "to_rule": new_.rule, "category": item.get("category")} for item, old, new_ in changes],
        }, ensure_ascii=False))
    else:
        _print_report(current_path, file, len(rows), before, after, changes)
    if failed:
        sys.exit(2)


def _team_order(*counts: Counter[str]) -> list[str]:
    from mentionflow.models import Team

    seen = set().union(*counts)
    return [t.value for t in Team if t.value in seen] + ([NO_TICKET] if NO_TICKET in seen else [])


def _print_report(current: Path, new: Path, n: int, before: Counter[str], after: Counter[str],
                  changes: list[tuple[dict[str, Any], _Outcome, _Outcome]]) -> None:
    click.echo(f"{n} mentions routed under {current} (current) and {new} (new)\n")
    click.echo(f"{'team':<18}{'current':>9}{'new':>9}{'change':>9}")
    for team in _team_order(before, after):
        delta = after[team] - before[team]
        click.echo(f"{team:<18}{before[team]:>9}{after[team]:>9}{delta:>+9}")
    click.echo(f"\n{len(changes)} mentions change team" + (":" if changes else "."))
    for item, old, new_ in changes:
        text = str(item.get("text", "")).replace("\n", " ")
        text = text if len(text) <= 70 else text[:69] + "…"
        click.echo(f"  {item.get('id')}: {old.team} ({old.rule}) -> {new_.team} ({new_.rule})  "
                   f"[{item.get('category')}] {text}")


def _classified(input_: IO[str]) -> tuple[list[dict[str, Any]], bool]:
    """Every usable line, classified when it has no "category" yet."""
    items: list[dict[str, Any]] = []
    failed = False
    for item in read_objects(input_, {"id": (str, int)}):
        if isinstance(item, LineError):
            report(item)
            failed = True
        else:
            items.append(item)
    usable, todo = [], []
    for item in items:
        if "category" in item:
            usable.append(item)
        elif isinstance(item.get("text"), str) and item["text"].strip():
            usable.append(item)
            todo.append(item)
        else:
            report(LineError(0, item.get("id"), f"mention {item.get('id')}: no \"category\" and no text to classify"))
            failed = True
    if todo:
        _classify_in_place(todo)
    return usable, failed


def _classify_in_place(items: list[dict[str, Any]]) -> None:
    from mentionflow.cli.filters import load_classifier

    click.echo(f"classifying {len(items)} mentions without a category…", err=True)
    classifier = load_classifier(get_settings())
    langs = [i.get("lang") or i.get("language") for i in items]
    preds = classifier.process([i["text"] for i in items], [x if isinstance(x, str) else None for x in langs])
    for item, pred in zip(items, preds, strict=True):
        item.update(category=pred.category.value, confidence=pred.confidence,
                    language=pred.language, needs_review=pred.needs_review)
