"""``mentionflow up``: the long-running local stack, until Ctrl-C."""

from __future__ import annotations

import signal
import time

import click

from mentionflow.settings import get_settings

__all__ = ["up_cmd"]

#: A worker that exits more often than this within the window is broken, not unlucky.
MAX_RESTARTS = 5
RESTART_WINDOW_S = 120


@click.command("up")
@click.option("--airflow/--no-airflow", default=True, show_default=True, help="also run airflow standalone")
@click.option("--classifiers", default=1, show_default=True, help="classifier worker processes")
@click.option("--routers", default=1, show_default=True, help="router worker processes")
@click.option("--dispatchers", default=1, show_default=True,
              help="delivery dispatchers (webhook, Slack, email, Zendesk; config/delivery.yaml)")
@click.option("--api/--no-api", default=True, show_default=True, help="also serve the team inbox API")
@click.option("--api-port", default=8000, show_default=True, help="port of the team inbox API")
def up_cmd(airflow: bool, classifiers: int, routers: int, dispatchers: int, api: bool, api_port: int) -> None:
    """Start broker, workers and Airflow; restart crashed workers; Ctrl-C stops all."""
    from mentionflow.stack.airflow import AirflowStandalone
    from mentionflow.stack.local import LocalStack

    settings = get_settings()
    run_dir = settings.var_dir / "run" / "up"
    stack = LocalStack(settings, run_dir)
    # SIGTERM behaves like Ctrl-C: both unwind into the `finally` below. SIGINT
    # is installed explicitly too: a process started in the background by a
    # non-interactive shell inherits SIGINT as ignored, and Python then never
    # raises KeyboardInterrupt.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    af: AirflowStandalone | None = None
    restarts: dict[str, list[float]] = {}
    try:
        stack.start(classifiers=classifiers, routers=routers, dispatchers=dispatchers)
        click.echo(f"broker:   {stack.bootstrap_servers}")
        click.echo(f"store:    {settings.database_url}")
        if api:
            stack.start_worker("api", 0, api_port=api_port)
            click.echo(f"api:      http://127.0.0.1:{api_port}/docs (tokens: mentionflow tokens create)")
        click.echo(f"workers:  {', '.join(w.name for w in stack.workers)} (logs in {run_dir})")
        if airflow:
            af = AirflowStandalone(settings.var_dir / "airflow", stack.child_env(), run_dir).start()
            click.echo("airflow:  starting (about a minute)...")
            af.wait_healthy()
            click.echo(f"Airflow UI: {af.url}  login: admin / {af.admin_password() or '(see var/airflow)'}")
        click.echo("Running. Press Ctrl-C to stop everything.")
        while True:
            time.sleep(2.0)
            for dead in stack.dead_workers():
                code = dead.proc.returncode if dead.proc else "?"
                now = time.monotonic()
                recent = [t for t in restarts.get(dead.name, []) if now - t < RESTART_WINDOW_S] + [now]
                restarts[dead.name] = recent
                if len(recent) > MAX_RESTARTS:
                    raise click.ClickException(
                        f"{dead.name} keeps exiting ({len(recent)} times in {RESTART_WINDOW_S}s); "
                        f"see {dead.log_file}"
                    )
                click.echo(f"{dead.name} exited with {code}; restarting", err=True)
                dead.stop()
                stack.workers.remove(dead)
                kind, _, index = dead.name.partition("-worker-")
                stack.start_worker(kind, int(index), api_port=api_port)
            if af and not af.process.alive():
                raise click.ClickException(f"airflow exited; see {run_dir / 'airflow.log'}")
    except KeyboardInterrupt:
        pass
    finally:
        # Shutdown must not be cut short by a second signal: children would be orphaned.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        click.echo("stopping...")
        if af:
            af.stop()
        stack.stop()
