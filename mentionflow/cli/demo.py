"""``mentionflow demo``: a bounded run of the real pipeline on the bundled sample."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mentionflow.models import Category, Team
from mentionflow.settings import PROJECT_ROOT, get_settings

__all__ = ["demo_cmd", "SAMPLE"]

SAMPLE = PROJECT_ROOT / "listeners" / "samples" / "sample_mentions.jsonl"


@click.command("demo")
@click.option("--sample", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=SAMPLE)
@click.option("--timeout", type=float, default=900.0, show_default=True, help="seconds to wait for routing")
def demo_cmd(sample: Path, timeout: float) -> None:
    """Start the stack, replay the sample through Kafka, wait until every
    mention is routed, print tickets per team and category, stop."""
    from listeners import MentionPublisher, ReplayListener, run_listener
    from mentionflow.kafka import make_producer
    from mentionflow.models import Mention
    from mentionflow.stack.local import LocalStack

    console = Console(soft_wrap=True)
    settings = get_settings()
    stack = LocalStack(settings, settings.var_dir / "run" / "demo")
    try:
        with console.status("starting broker, store and workers..."):
            stack.start()
        console.print(f"broker [bold]{stack.bootstrap_servers}[/]  store [bold]{settings.database_url}[/]")
        tickets_before = stack.store.count_tickets()

        listener = ReplayListener("demo-replay", sample)
        ids = [m.id for m in listener.poll(None) if isinstance(m, Mention)]
        producer = make_producer(stack.bootstrap_servers, settings)
        stats = run_listener(listener, MentionPublisher(producer), None, use_cursor=False)
        producer.close()
        console.print(f"replayed {stats.published} mentions from {sample.name} ({stats.rejected} rejected to the DLQ)")

        _wait_routed(stack, set(ids), timeout, console)
        counts = stack.store.ticket_counts(ids)
        created = stack.store.count_tickets() - tickets_before
        console.print(_table(counts))
        ticketed = sum(counts.values())
        for label, value in (
            ("mentions routed", len(ids)),
            ("tickets for them", ticketed),
            ("no ticket (other)", len(ids) - ticketed),
            ("new tickets this run", created),
        ):
            console.print(f"{label}: {value}")
    finally:
        stack.stop()


def _wait_routed(stack, ids: set[str], timeout: float, console: Console) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    with Progress(
        TextColumn("routing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("routing", total=len(ids))
        while True:
            done = len(stack.store.routed_ids(ids))
            progress.update(task, completed=done)
            if done == len(ids):
                return
            dead = stack.dead_workers()
            if dead:
                raise click.ClickException(
                    f"{', '.join(w.name for w in dead)} exited; see {stack.run_dir}/*.log"
                )
            if time.monotonic() > deadline:
                raise click.ClickException(f"only {done}/{len(ids)} mentions routed after {timeout:.0f}s")
            time.sleep(0.5)


def _table(counts: dict[tuple[str, str], int]) -> Table:
    cats = [c.value for c in Category if c != Category.OTHER]
    table = Table(title="Tickets per team and category")
    table.add_column("team")
    for c in cats:
        table.add_column(c, justify="right")
    table.add_column("total", justify="right", style="bold")
    for team in Team:
        row = [counts.get((team.value, c), 0) for c in cats]
        table.add_row(team.value, *map(str, row), str(sum(row)))
    totals = [sum(counts.get((t.value, c), 0) for t in Team) for c in cats]
    table.add_row("total", *map(str, totals), str(sum(totals)), style="bold")
    return table
