"""``mentionflow deliver`` (the dispatcher) and ``mentionflow deliveries list|retry``."""

from __future__ import annotations

import signal
from datetime import timedelta

import click
from rich.console import Console
from rich.table import Table

from mentionflow.settings import get_settings

__all__ = ["deliver_cmd", "deliveries_group"]


def _outbox():  # type: ignore[no-untyped-def]
    from mentionflow.store import make_engine, migrate
    from mentionflow.store.outbox import Outbox

    engine = make_engine(get_settings().database_url)
    migrate(engine)
    return Outbox(engine)


@click.command("deliver")
@click.option("--max-idle", type=float, default=None, help="exit after this many idle seconds")
@click.option("--batch-size", type=click.IntRange(1, 500), default=20, show_default=True)
def deliver_cmd(max_idle: float | None, batch_size: int) -> None:
    """Send pending ticket deliveries (webhook, Slack, email, Zendesk) until SIGTERM."""
    from mentionflow.config_files import ConfigFileError
    from routing.delivery import Dispatcher, MissingSecret, load_delivery_config
    from routing.delivery.sinks import build_sinks

    settings = get_settings()
    try:
        config = load_delivery_config(settings.delivery_file)
        sinks = build_sinks(config)
    except (ConfigFileError, MissingSecret) as exc:
        raise click.ClickException(str(exc)) from exc
    dispatcher = Dispatcher(_outbox(), sinks, config.retry, batch_size=batch_size,
                            lease=timedelta(seconds=settings.delivery_lease_s))
    signal.signal(signal.SIGTERM, dispatcher.stop)
    signal.signal(signal.SIGINT, dispatcher.stop)
    click.echo(f"delivering to {len(sinks)} sink(s): {', '.join(sorted(sinks)) or 'none configured'}", err=True)
    dispatcher.run(max_idle_s=max_idle)


@click.group("deliveries")
def deliveries_group() -> None:
    """Inspect the delivery outbox and retry failed deliveries."""


@deliveries_group.command("list")
@click.option("--status", type=click.Choice(["pending", "delivered", "failed"]), default=None)
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
def list_cmd(status: str | None, limit: int) -> None:
    """Counts per sink and status, then the latest deliveries."""
    from mentionflow.store.outbox import DeliveryStatus

    outbox = _outbox()
    console = Console()
    counts = Table("sink", "pending", "delivered", "failed", title="deliveries per sink")
    per_sink: dict[str, dict[str, int]] = {}
    for (sink, st), n in outbox.counts().items():
        per_sink.setdefault(sink, {})[st] = n
    for sink, by in sorted(per_sink.items()):
        counts.add_row(sink, *(str(by.get(s.value, 0)) for s in DeliveryStatus))
    console.print(counts)
    rows = Table("id", "ticket", "sink", "team", "status", "attempts", "next attempt", "reference / last error")
    for r in outbox.rows(DeliveryStatus(status) if status else None, limit):
        rows.add_row(str(r["id"]), r["ticket_id"], r["sink"], f"{r['team']} ({r['role']})", r["status"],
                     str(r["attempts"]), f"{r['next_attempt_at']:%Y-%m-%d %H:%M:%S}" if r["status"] == "pending" else "",
                     r["external_ref"] or r["last_error"] or "")
    console.print(rows)


@deliveries_group.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--sink", default=None, help="only this sink's failed deliveries")
@click.option("--all-failed", is_flag=True, help="every failed delivery")
def retry_cmd(ids: tuple[int, ...], sink: str | None, all_failed: bool) -> None:
    """Give failed deliveries a new round of attempts (after fixing the sink)."""
    if not (ids or sink or all_failed):
        raise click.UsageError("name delivery ids, --sink NAME or --all-failed")
    n = _outbox().requeue(ids or None, sink)
    click.echo(f"{n} deliveries queued again")
