"""``mentionflow sources list`` and ``sources test``, as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from listeners.connectors import CONNECTORS
from tests.fakes.platforms.feeds import FeedSite, rss


def run(*args: str, sources_file, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    full_env = {**os.environ, "MENTIONFLOW_SOURCES_FILE": str(sources_file), **(env or {})}
    return subprocess.run([sys.executable, "-m", "mentionflow", "sources", *args], capture_output=True, text=True,
                          timeout=120, env=full_env)


@pytest.fixture
def site():  # type: ignore[no-untyped-def]
    s = FeedSite().start()
    s.feeds["/feed"] = rss("Bank blog", [{"guid": "1", "title": "NordBank", "description": "hi",
                                          "link": "https://blog.example/1"}])
    yield s
    s.stop()


@pytest.fixture
def sources_file(tmp_path, site):  # type: ignore[no-untyped-def]
    f = tmp_path / "sources.yaml"
    f.write_text(
        "version: 1\nsources:\n"
        f"  - {{name: blog, kind: rss, brand: nordbank, feeds: ['{site.url}/feed']}}\n"
        "  - {name: forms, kind: webhook, brand: nordbank, secret: {env: MF_FORMS_SECRET}}\n"
        f"  - {{name: old-blog, kind: rss, brand: nordbank, enabled: false, feeds: ['{site.url}/gone']}}\n",
        encoding="utf-8",
    )
    return f


def test_list_shows_every_connector_with_its_mode_and_configuration(sources_file):
    result = run("list", sources_file=sources_file)
    assert result.returncode == 0, result.stderr
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.count("│") >= 4}
    assert set(CONNECTORS) <= set(rows)
    assert "blog (ready)" in rows["rss"] and "poll" in rows["rss"]
    assert "push" in rows["webhook"] and "missing secret: environment variable MF_FORMS_SECRET" in result.stdout
    assert "old-blog (disabled)" in result.stdout
    assert "not configured" in rows["imap"]


def test_test_reports_what_it_found(sources_file):
    result = run("test", "blog", sources_file=sources_file)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "blog (rss): OK: Bank blog: 1 entries"


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("forms", "MissingCredential: environment variable MF_FORMS_SECRET is not set"),
        ("old-blog", r"ContentGone: old-blog: /gone is gone (HTTP 404)"),
        ("nope", "no source named 'nope' (configured: blog, forms, old-blog)"),
    ],
)
def test_test_says_exactly_what_is_wrong(sources_file, name, words):
    result = run("test", name, sources_file=sources_file)
    assert result.returncode == 1
    assert words in result.stderr


def test_a_bad_sources_file_is_refused_with_file_and_line(tmp_path):
    f = tmp_path / "sources.yaml"
    f.write_text("version: 1\nsources:\n  - name: x1\n    kind: rss\n    brand: b\n    feeds: [u]\n"
                 "    token: hunter2\n", encoding="utf-8")
    result = run("list", sources_file=f)
    assert result.returncode == 1
    assert f"{f}:7: sources[0].token" in result.stderr
