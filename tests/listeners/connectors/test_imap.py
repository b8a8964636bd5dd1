"""The IMAP connector against a local IMAP4rev1 server."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime

import pytest

from listeners import Checkpoint, Rejected, run_listener
from listeners.connectors.imap import ImapSource
from listeners.errors import (
    AuthFailed,
    ContentGone,
    MissingCredential,
    RateLimited,
    SourceUnavailable,
)
from tests.fakes.platforms.imap import FakeImapServer

T = datetime(2026, 11, 20, 8, 30, tzinfo=timezone.utc)


def message(n: int, body: str | None = None, html: str | None = None, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = headers.get("sender", f"Kundin {n} <kundin{n}@mail.example>")
    msg["To"] = "social@example.com"
    msg["Subject"] = headers.get("subject", f"Frage zu Konto {n}")
    msg["Date"] = format_datetime(T + timedelta(minutes=n))
    msg["Message-ID"] = f"<msg-{n}@mail.example>"
    if html is not None:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content(body if body is not None else f"Hallo NordBank, wie ändere ich mein Limit? ({n})")
    return bytes(msg)


@pytest.fixture
def server():  # type: ignore[no-untyped-def]
    s = FakeImapServer().start()
    yield s
    s.stop()


@pytest.fixture
def source(server, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MF_IMAP_PASSWORD", server.password)
    return ImapSource(name="inbox", kind="imap", brand="nordbank", host="127.0.0.1", port=server.port,
                      security="none", username=server.user, password={"env": "MF_IMAP_PASSWORD"}, batch_size=2,
                      timeout_s=5)


def fill(server: FakeImapServer, numbers) -> None:  # type: ignore[no-untyped-def]
    for n in numbers:
        server.add(message(n), T + timedelta(minutes=n))


def test_messages_become_mentions_read_only(server, source):
    server.add(message(1), T)
    server.add(message(2, html="<p>Die <b>App</b> st&uuml;rzt ab</p>", sender="noreply@shop.example",
                       subject="Bewertung"), T)
    outputs = list(source.listener().poll(None))
    plain, html = [o for o in outputs if not isinstance(o, Checkpoint)]
    assert plain.id == "email:msg-1@mail.example" and plain.platform == "email"
    assert plain.text == "Frage zu Konto 1\nHallo NordBank, wie ändere ich mein Limit? (1)"
    assert (plain.author.handle, plain.author.display_name) == ("kundin1@mail.example", "Kundin 1")
    assert plain.created_at == T + timedelta(minutes=1)
    assert plain.raw["uid"] == 1 and plain.raw["headers"]["Message-ID"] == "<msg-1@mail.example>"
    assert "Hallo NordBank" in plain.raw["source"]
    assert html.text == "Bewertung\nDie App stürzt ab" and html.author.display_name is None
    assert "EXAMINE" in server.commands and "SELECT" not in server.commands and "UID STORE" not in server.commands


def test_batches_checkpoint_and_a_second_poll_reads_only_new_mail(server, source, publisher, state):
    fill(server, range(1, 6))
    stats = run_listener(source.listener(), publisher, state)
    assert stats.published == 5 and stats.checkpoints == 3
    assert state.get_cursor("inbox") == {"uidvalidity": server.uidvalidity, "last_uid": 5}
    assert run_listener(source.listener(), publisher, state).published == 0  # "6:*" still matches UID 5
    fill(server, [6, 7])
    assert run_listener(source.listener(), publisher, state).published == 2
    assert len(set(publisher.ids)) == len(publisher.ids) == 7


def test_a_connection_lost_mid_way_loses_and_repeats_nothing(server, source, publisher, state):
    fill(server, range(1, 6))
    server.drop_at_fetch = 2
    with pytest.raises(SourceUnavailable, match="connection lost"):
        run_listener(source.listener(), publisher, state)
    assert publisher.ids == ["email:msg-1@mail.example", "email:msg-2@mail.example"]
    run_listener(source.listener(), publisher, state)
    assert publisher.ids == [f"email:msg-{n}@mail.example" for n in range(1, 6)]


def test_a_renumbered_folder_is_reread_without_repeats(server, source, publisher, state):
    fill(server, range(1, 4))
    run_listener(source.listener(), publisher, state)
    server.uidvalidity += 1
    fill(server, [4])
    stats = run_listener(source.listener(), publisher, state)
    assert (stats.published, stats.duplicates) == (1, 3)


def test_an_empty_message_is_dead_lettered(server, source):
    server.add(message(1, body="", subject=""), T)
    [rejected] = [o for o in source.listener().poll(None) if isinstance(o, Rejected)]
    assert "INBOX UID 1: message has no subject and no text body" in rejected.reason
    assert b"msg-1@mail.example" in rejected.payload


def test_a_refused_login_missing_password_gone_folder_and_throttling_say_what_is_wrong(server, source, monkeypatch):
    monkeypatch.setenv("MF_IMAP_PASSWORD", "wrong")
    with pytest.raises(AuthFailed, match=r"refused the login for social@example\.com: .*Invalid credentials"):
        source.probe()
    monkeypatch.delenv("MF_IMAP_PASSWORD")
    with pytest.raises(MissingCredential, match="MF_IMAP_PASSWORD"):
        source.probe()
    monkeypatch.setenv("MF_IMAP_PASSWORD", server.password)
    with pytest.raises(ContentGone, match="folder 'Archive' cannot be opened.*NONEXISTENT"):
        source.model_copy(update={"folder": "Archive"}).probe()
    server.refuse["UID SEARCH"] = "[THROTTLED] Too many commands"
    with pytest.raises(RateLimited, match="throttling"):
        list(source.listener().poll(None))


def test_an_unreachable_server_is_named(source):
    with pytest.raises(SourceUnavailable, match="127.0.0.1:1 cannot be reached"):
        source.model_copy(update={"port": 1}).probe()


def test_probe_reports_the_folder(server, source):
    fill(server, range(1, 4))
    assert source.probe() == f"logged in as {server.user}; INBOX holds 3 messages (UIDVALIDITY {server.uidvalidity})"
