"""``mentionflow sources list|test|poll|reset``, ``listen`` (streams) and ``intake`` (pushes)."""

from __future__ import annotations

import signal
import threading

import click
from rich.console import Console
from rich.table import Table

from mentionflow.settings import get_settings

__all__ = ["intake_cmd", "listen_cmd", "sources_group"]


def _sources():  # type: ignore[no-untyped-def]
    from listeners.sources import load_sources
    from mentionflow.config_files import ConfigFileError

    try:
        return load_sources(get_settings().sources_file)
    except ConfigFileError as exc:
        raise click.ClickException(str(exc)) from exc


def _source(name: str):  # type: ignore[no-untyped-def]
    try:
        return _sources().get(name)
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0])) from exc


def _engine():  # type: ignore[no-untyped-def]
    from mentionflow.store import make_engine, migrate

    engine = make_engine(get_settings().database_url)
    migrate(engine)
    return engine


@click.group("sources")
def sources_group() -> None:
    """The connectors, and the sources configured in config/sources.yaml."""


@sources_group.command("list")
def list_cmd() -> None:
    """Every connector with its kind (poll / stream / push) and whether it is configured."""
    from listeners.connectors import connector_classes

    configured = _sources().sources
    table = Table("connector", "listens by", "configured sources", "what it reads", title="connectors")
    for kind, cls in connector_classes().items():
        mine = [s for s in configured if s.kind == kind]
        status = []
        for s in mine:
            missing = s.missing_credentials()
            state = "disabled" if not s.enabled else ("missing " + "; ".join(missing)) if missing else "ready"
            status.append(f"{s.name} ({state})")
        table.add_row(kind, " / ".join(m.value for m in cls.modes), "\n".join(status) or "not configured", cls.summary)
    Console(width=160).print(table)


@sources_group.command("test")
@click.argument("name")
def test_cmd(name: str) -> None:
    """Make one authenticated call to NAME's platform and say what it found or what is wrong."""
    from listeners.errors import SourceError

    source = _source(name)
    try:
        found = source.probe()
    except SourceError as exc:
        raise click.ClickException(f"{name} ({source.kind}): {type(exc).__name__}: {exc}") from exc
    click.echo(f"{name} ({source.kind}): OK: {found}")


@sources_group.command("poll")
@click.argument("name")
def poll_cmd(name: str) -> None:
    """Poll NAME once now (what the poll_sources DAG does when it is due)."""
    from listeners.errors import SourceError
    from listeners.poll import poll_source

    try:
        result = poll_source(name)
    except (SourceError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(" ".join(f"{k}={v}" for k, v in result.items()))


@sources_group.command("reset")
@click.argument("name")
@click.confirmation_option(prompt="Forget this source's cursor and seen ids? The next poll starts over.")
def reset_cmd(name: str) -> None:
    """Forget NAME's cursor and seen ids (to backfill from the start)."""
    from mentionflow.store.listening import SourceState

    SourceState(_engine()).reset(_source(name).name)
    click.echo(f"{name}: cursor and seen ids cleared")


@click.command("listen")
@click.argument("name")
def listen_cmd(name: str) -> None:
    """Run NAME's streaming connection until SIGTERM, reconnecting as needed."""
    from listeners.base import Mode
    from listeners.errors import SourceError
    from listeners.publisher import MentionPublisher
    from listeners.runner import run_listener
    from mentionflow.kafka import make_producer
    from mentionflow.store.listening import SourceState

    settings = get_settings()
    source = _source(name)
    if Mode.STREAM not in source.active_modes():
        raise click.ClickException(f"{name} is a {source.kind} source, which does not stream")
    if not settings.bootstrap_servers:
        raise click.ClickException("MENTIONFLOW_BOOTSTRAP_SERVERS is not set")
    try:
        listener = source.stream_listener()
    except SourceError as exc:
        raise click.ClickException(str(exc)) from exc
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: (stop.set(), getattr(listener, "stop", lambda: None)()))
    producer = make_producer(settings.bootstrap_servers, settings)
    try:
        run_listener(listener, MentionPublisher(producer), SourceState(_engine()), seen_retention=source.seen_retention)
    finally:
        producer.close()


@click.command("intake")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8090, show_default=True)
def intake_cmd(host: str, port: int) -> None:
    """Serve /intake/<source> for every push source and publish what arrives."""
    import uvicorn

    from listeners.credentials import MissingCredential
    from listeners.intake import IntakePublisher, create_intake_app
    from listeners.publisher import MentionPublisher
    from mentionflow.kafka import make_producer
    from mentionflow.store.listening import IntakeQueue, SourceState

    settings = get_settings()
    if not settings.bootstrap_servers:
        raise click.ClickException("MENTIONFLOW_BOOTSTRAP_SERVERS is not set")
    engine = _engine()
    try:
        app = create_intake_app(_sources().sources, IntakeQueue(engine))
    except MissingCredential as exc:
        raise click.ClickException(str(exc)) from exc
    producer = make_producer(settings.bootstrap_servers, settings)
    stop = threading.Event()
    drainer = IntakePublisher(IntakeQueue(engine), SourceState(engine), MentionPublisher(producer))
    thread = threading.Thread(target=drainer.run, args=(stop,), name="intake-publisher", daemon=True)
    thread.start()
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        stop.set()
        thread.join(timeout=30)
        producer.close()
