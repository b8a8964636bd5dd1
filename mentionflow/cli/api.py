"""``mentionflow api`` (serve the team inbox) and ``mentionflow tokens``."""

from __future__ import annotations

import click

from mentionflow.models import Team
from mentionflow.settings import get_settings

__all__ = ["api_cmd", "tokens_group"]


def _engine():  # type: ignore[no-untyped-def]
    from mentionflow.store import make_engine, migrate

    engine = make_engine(get_settings().database_url)
    migrate(engine)
    return engine


@click.command("api")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def api_cmd(host: str, port: int) -> None:
    """Serve the team inbox API (OpenAPI at /docs, /healthz, /metrics)."""
    import uvicorn

    from mentionflow.api import create_app

    uvicorn.run(create_app(_engine()), host=host, port=port, log_level="info", access_log=False)


@click.group("tokens")
def tokens_group() -> None:
    """Manage API tokens (one per person or integration)."""


@tokens_group.command("create")
@click.argument("name")
@click.option("--team", type=click.Choice([t.value for t in Team]), help="the team the token sees")
@click.option("--admin", is_flag=True, help="a token that sees every team")
def create_cmd(name: str, team: str | None, admin: bool) -> None:
    """Create a token NAME for one --team (or --admin); prints it once."""
    from mentionflow.store.tokens import TokenStore

    if bool(team) == admin:
        raise click.UsageError("give exactly one of --team TEAM or --admin")
    try:
        token = TokenStore(_engine()).create(name, Team(team) if team else None)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(token)
    click.echo(f"token {name!r} for {team or 'admin'}; it is shown only now, store it safely", err=True)


@tokens_group.command("revoke")
@click.argument("name")
def revoke_cmd(name: str) -> None:
    from mentionflow.store.tokens import TokenStore

    if not TokenStore(_engine()).revoke(name):
        raise click.ClickException(f"no active token named {name!r}")
    click.echo(f"revoked {name}")


@tokens_group.command("list")
def list_cmd() -> None:
    from mentionflow.store.tokens import TokenStore

    for name, team, created, used, revoked in TokenStore(_engine()).list():
        state = f"revoked {revoked:%Y-%m-%d}" if revoked else f"last used {used:%Y-%m-%d %H:%M}" if used else "never used"
        click.echo(f"{name:<24}{team:<18}created {created:%Y-%m-%d}  {state}")
