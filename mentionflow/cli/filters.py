"""``mentionflow classify`` and ``mentionflow route``: JSON Lines filters."""

from __future__ import annotations

import os
import sys
from itertools import islice
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from mentionflow.cli.jsonl import LineError, read_objects, report, write_object
from mentionflow.settings import Settings, get_settings
from routing.engine import MentionFacts, RoutingEngine
from routing.loader import RulesError, load_rules

if TYPE_CHECKING:
    from classifiers.model import MentionClassifier

__all__ = ["classify_cmd", "load_classifier", "route_cmd"]

CHUNK = 64  # lines classified per forward pass; small enough to stream through a pipe


@click.command("classify")
@click.option("--input", "input_", type=click.File("r", encoding="utf-8"), default="-", help="JSON Lines (default stdin)")
@click.option("--output", type=click.File("w", encoding="utf-8"), default="-", help="JSON Lines (default stdout)")
def classify_cmd(input_: IO[str], output: IO[str]) -> None:
    """Label each mention complaint, question, praise, lead or other.

    Each input line needs "id" and "text"; "lang" is used when given. Each
    output line is the input plus "category", "confidence", "scores",
    "language" and "needs_review" (confidence under the review threshold).
    Bad lines yield {"id", "error"}; the exit status is then 2.
    """
    settings = get_settings()
    classifier = None
    failed = False
    items = read_objects(input_, {"id": (str, int), "text": str}, nonblank=("text",))
    while chunk := list(islice(items, CHUNK)):
        good: list[dict[str, Any]] = [item for item in chunk if isinstance(item, dict)]
        if good and classifier is None:
            classifier = load_classifier(settings)
        predictions = iter(
            classifier.process(
                [g["text"] for g in good],
                [g.get("lang") if isinstance(g.get("lang"), str) else None for g in good],
                batch_size=settings.classify_batch_size,
            )
            if good and classifier
            else []
        )
        for item in chunk:
            if isinstance(item, LineError):
                failed = True
                report(item)
                write_object(output, item.as_output())
                continue
            pred = next(predictions)
            write_object(
                output,
                {
                    **item,
                    "category": pred.category.value,
                    "confidence": round(pred.confidence, 6),
                    "scores": {k.value: v for k, v in pred.scores.items()},
                    "language": pred.language,
                    "needs_review": pred.needs_review,
                },
            )
        output.flush()
    if failed:
        sys.exit(2)


def load_classifier(settings: Settings) -> MentionClassifier:
    """The configured classifier, as every command that classifies loads it.

    An explicitly configured encoder (MENTIONFLOW_ENCODER) replaces the one
    the artifact records.
    """
    from classifiers.model import MentionClassifier

    override = settings.encoder if "MENTIONFLOW_ENCODER" in os.environ else None
    return MentionClassifier.load(settings.classifier_dir, settings.cache_dir, override, settings.review_threshold)


@click.command("route")
@click.option("--rules", "rules_path", type=click.Path(dir_okay=False), default=None, help="rules file (default config/routing.yaml)")
@click.option("--input", "input_", type=click.File("r", encoding="utf-8"), default="-")
@click.option("--output", type=click.File("w", encoding="utf-8"), default="-")
@click.option("--spike", "spikes", multiple=True, metavar="BRAND", help="treat BRAND as in a mention spike (repeatable)")
def route_cmd(rules_path: str | None, input_: IO[str], output: IO[str], spikes: tuple[str, ...]) -> None:
    """Decide the team for each classified mention.

    Adds "team" (customer_service, pr, sales, marketing, review or none),
    "priority", "rule", "reasons", "tags", "cc" and "spam" to each line of
    `mentionflow classify` output. Writes nothing anywhere else.
    """
    spiking = frozenset(b.casefold() for b in spikes)
    try:
        engine = RoutingEngine(load_rules(Path(rules_path) if rules_path else get_settings().rules_file))
    except RulesError as exc:
        raise click.ClickException(str(exc)) from exc
    failed = False
    for item in read_objects(input_, {"id": (str, int), "category": str}):
        if isinstance(item, dict):
            try:
                facts = MentionFacts.from_record(item, spiking_brands=spiking)
            except ValueError as exc:
                item = LineError(0, item.get("id"), f"mention {item.get('id')}: {exc}")
        if isinstance(item, LineError):
            failed = True
            report(item)
            write_object(output, item.as_output())
            continue
        decision = engine.decide(facts)
        write_object(
            output,
            {
                **item,
                "team": decision.team.value if decision.team else "none",
                "priority": decision.priority.value if decision.priority else None,
                "rule": decision.rule_id,
                "reasons": decision.reasons,
                "tags": decision.tags,
                "cc": [t.value for t in decision.cc],
                "spam": facts.spam,
            },
        )
    output.flush()
    if failed:
        sys.exit(2)

