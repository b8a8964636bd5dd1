"""Finding a real PostgreSQL for the tests, in order of preference:

1. ``MENTIONFLOW_TEST_DATABASE_URL`` (a server URL; a database is created in it);
2. a server answering on 127.0.0.1:5432 (trust auth, user ``postgres``);
3. a throwaway cluster started here with ``initdb``/``pg_ctl`` if installed.

Only when none exists are the PostgreSQL tests skipped, with a warning that
says so. Each test session gets its own database, dropped at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

__all__ = ["postgres_server", "throwaway_database"]


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(_libpq(url), connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _libpq(url: str) -> str:
    u = make_url(url).set(drivername="postgresql")
    return u.render_as_string(hide_password=False)


def _find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    return None


@contextmanager
def _initdb_cluster() -> Iterator[str | None]:
    initdb, pg_ctl = _find_binary("initdb"), _find_binary("pg_ctl")
    if not (initdb and pg_ctl):
        yield None
        return
    from mentionflow.stack.broker import free_port

    root = Path(tempfile.mkdtemp(prefix="mf-pg-"))
    port = free_port()
    data = root / "data"
    # initdb refuses to run as root; real CI users are not root, this machine may be.
    subprocess.run([initdb, "-D", str(data), "-U", "postgres", "-A", "trust"], check=True, capture_output=True)
    subprocess.run(
        [pg_ctl, "-D", str(data), "-l", str(root / "log"), "-w", "-o",
         f"-p {port} -k {root} -h 127.0.0.1", "start"],
        check=True, capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[str | None]:
    """A server URL (database ``postgres``), or None with a warning."""
    env = os.environ.get("MENTIONFLOW_TEST_DATABASE_URL")
    if env:
        yield env
        return
    local = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    if _answers(local):
        yield local
        return
    try:
        with _initdb_cluster() as url:
            if url is None:
                warnings.warn("NO POSTGRESQL AVAILABLE: PostgreSQL tests are skipped", stacklevel=2)
            yield url
    except subprocess.CalledProcessError as exc:
        warnings.warn(f"NO POSTGRESQL AVAILABLE (initdb failed: {exc.stderr!r}); tests skipped", stacklevel=2)
        yield None


@contextmanager
def throwaway_database(server_url: str) -> Iterator[str]:
    name = f"mentionflow_test_{uuid.uuid4().hex[:10]}"
    admin = _libpq(server_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
