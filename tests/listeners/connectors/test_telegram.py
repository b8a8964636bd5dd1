"""Telegram connector against a local Bot API: getUpdates polling, errors, webhooks."""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient

from listeners.base import Checkpoint, Rejected
from listeners.connectors import connector_classes
from listeners.connectors.telegram import TelegramSource
from listeners.errors import (
    AuthFailed,
    MissingCredential,
    QueryRejected,
    RateLimited,
    SourceUnavailable,
)
from listeners.intake import IntakePublisher, create_intake_app
from listeners.runner import run_listener
from mentionflow.models import Mention
from mentionflow.store.listening import SourceState
from tests.fakes.platforms.telegram import FakeBotApi, bot_error

TOKEN = "7001:AAH-secret-bot-token"
WEBHOOK_SECRET = "s3cr3t_Token-1"
GROUP = {"id": -1001500000001, "type": "supergroup", "title": "Acme Community", "username": "acme_community"}
PRIVATE_GROUP = {"id": -4000002, "type": "group", "title": "Parcel buddies"}
CHANNEL = {"id": -1001500000003, "type": "channel", "title": "Acme News", "username": "acme_news"}
T0 = 1_790_000_000


def text_message(n: int, chat: dict = GROUP, text: str | None = "", **over) -> dict:  # type: ignore[no-untyped-def]
    """A message update's message; ``text=None`` leaves the text out (stickers, photos)."""
    message = {"message_id": n, "from": {"id": 900 + n, "is_bot": False, "first_name": "Ann", "last_name": "Lee",
                                         "username": f"ann{n}", "language_code": "en"},
               "chat": chat, "date": T0 + n, "text": f"acme parcel {n} is late" if text == "" else text}
    message.update(over)
    return {k: v for k, v in message.items() if v is not None}


@pytest.fixture
def api():  # type: ignore[no-untyped-def]
    with FakeBotApi(TOKEN) as fake:
        yield fake


@pytest.fixture
def env(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TG_TOKEN", TOKEN)
    monkeypatch.setenv("TG_SECRET", WEBHOOK_SECRET)


def source(api: FakeBotApi, **over) -> TelegramSource:  # type: ignore[no-untyped-def]
    config = {"name": "acme-tg", "kind": "telegram", "brand": "acme", "token": {"env": "TG_TOKEN"},
              "base_url": api.url, "poll_timeout_s": 0, "limit": 2, "max_retries": 1, "max_wait_s": 60}
    config.update(over)
    return TelegramSource.model_validate(config)


def poll(src: TelegramSource, cursor=None, sleeps=None):  # type: ignore[no-untyped-def]
    listener = src.listener(sleep=(sleeps if sleeps is not None else []).append)
    return list(listener.poll(cursor)), listener


def mentions(items) -> list[Mention]:  # type: ignore[no-untyped-def]
    return [i for i in items if isinstance(i, Mention)]


def test_registered_and_messages_channel_posts_and_captions_map_to_mentions(api, env):
    assert connector_classes()["telegram"] is TelegramSource
    first = api.push(**text_message(11))
    api.push("channel_post", message_id=5, sender_chat=CHANNEL, chat=CHANNEL, date=T0, text="Acme lockers are live")
    api.push(message_id=7, **{"from": {"id": 42, "is_bot": False, "first_name": "Bo"}}, chat=PRIVATE_GROUP,
             date=T0, caption="photo of my acme parcel", photo=[{"file_id": "x", "width": 90, "height": 90}])
    items, _ = poll(source(api, limit=100))
    group, channel, photo = mentions(items)
    assert group.id == "telegram:-1001500000001:11" and group.platform == "telegram"
    assert group.native_id == "-1001500000001:11" and group.brand == "acme"
    assert group.text == "acme parcel 11 is late" and group.author.handle == "ann11"
    assert group.author.display_name == "Ann Lee" and group.url == "https://t.me/acme_community/11"
    assert group.created_at == datetime.fromtimestamp(T0 + 11, timezone.utc) and group.raw == first
    assert channel.author.handle == "Acme News" and channel.url == "https://t.me/acme_news/5"
    assert photo.text == "photo of my acme parcel" and photo.author.handle == "42" and photo.url is None
    assert items[-1] == Checkpoint({"offset": first["update_id"] + 3})
    method, args = api.requests[0]
    assert method == "getUpdates" and args["allowed_updates"] == [
        "message", "edited_message", "channel_post", "edited_channel_post"]
    assert args["timeout"] == 0 and "offset" not in args


def test_pages_through_batches_with_offsets(api, env):
    pushed = [api.push(**text_message(n)) for n in range(1, 8)]
    items, _ = poll(source(api))
    assert [m.native_id for m in mentions(items)] == [f"-1001500000001:{n}" for n in range(1, 8)]
    offsets = [args.get("offset") for _, args in api.requests]
    ids = [u["update_id"] for u in pushed]
    assert offsets == [None, ids[1] + 1, ids[3] + 1, ids[5] + 1]  # 4 batches of at most 2
    assert [i.cursor["offset"] for i in items if isinstance(i, Checkpoint)] == [ids[1] + 1, ids[3] + 1, ids[5] + 1,
                                                                               ids[6] + 1]


def test_second_poll_with_the_cursor_returns_only_new_updates(api, env):
    for n in (1, 2, 3):
        api.push(**text_message(n))
    src = source(api)
    first, _ = poll(src)
    cursor = first[-1].cursor
    api.push("edited_message", **text_message(2, text="acme parcel 2 is very late", edit_date=T0 + 99))
    api.push(**text_message(4))
    second, _ = poll(src, cursor)
    assert [m.native_id for m in mentions(second)] == ["-1001500000001:2", "-1001500000001:4"]  # the edit keeps its id
    assert mentions(poll(src, second[-1].cursor)[0]) == []


def test_restart_after_batch_three_fails_publishes_everything_exactly_once(api, env, state, publisher):
    pushed = [api.push(**text_message(n)) for n in range(1, 9)]  # 4 batches of 2
    third = pushed[4]["update_id"]
    api.fail_when = lambda method, args: (bot_error(502, "Bad Gateway")
                                          if method == "getUpdates" and args.get("offset") == third else None)
    src = source(api)
    with pytest.raises(SourceUnavailable, match="Bad Gateway") as caught:
        run_listener(src.listener(sleep=lambda s: None), publisher, state)
    assert TOKEN not in str(caught.value)
    assert publisher.ids == [f"telegram:-1001500000001:{n}" for n in range(1, 5)]
    assert state.get_cursor("acme-tg") == {"offset": third}

    api.fail_when = None
    stats = run_listener(src.listener(sleep=lambda s: None), publisher, state)
    assert stats.published == 4 and stats.duplicates == 0
    assert publisher.ids == [f"telegram:-1001500000001:{n}" for n in range(1, 9)]


def test_retry_after_is_honoured_and_a_long_one_raises(api, env):
    api.push(**text_message(1))
    api.fail_next = [bot_error(429, "Too Many Requests: retry after 1", retry_after=1)]
    sleeps: list[float] = []
    items, _ = poll(source(api), sleeps=sleeps)
    assert sleeps == [1.0] and len(mentions(items)) == 1
    api.fail_next = [bot_error(429, "Too Many Requests: retry after 600", retry_after=600)]
    with pytest.raises(RateLimited, match="rate limited by Telegram for 600s") as caught:
        poll(source(api))
    assert caught.value.retry_after_s == 600


def test_bad_token_is_auth_failed_without_leaking_it(api, env, monkeypatch, caplog):
    monkeypatch.setenv("TG_TOKEN", "7001:wrong-token-value")
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="httpx"):
        with pytest.raises(AuthFailed, match="refused the bot token") as caught:
            poll(source(api))
        with pytest.raises(AuthFailed, match=r"401 Unauthorized"):
            source(api).probe()
    assert "wrong-token-value" not in str(caught.value) and "wrong-token-value" not in caplog.text
    assert "getUpdates" in caplog.text  # httpx logged the request, without the token
    assert api.raw_paths[0] == "/bot7001:wrong-token-value/getUpdates"
    monkeypatch.delenv("TG_TOKEN")
    with pytest.raises(MissingCredential, match="TG_TOKEN"):
        source(api).listener()


def test_conflict_with_a_webhook_says_how_to_fix_it(api, env):
    api.webhook = {"url": "https://intake.example/intake/acme-tg"}
    with pytest.raises(QueryRejected, match=r"409 Conflict.*deleteWebhook.*mode: push"):
        poll(source(api))


def test_malformed_rejected_and_textless_or_filtered_messages_skipped(api, env):
    api.push_raw({"message": {"message_id": 1, "chat": GROUP, "date": T0, "text": "no update id"}})
    api.push(message_id=2, date=T0, text="acme but no chat")
    api.push(**text_message(3, sticker={"file_id": "s"}, text=None))
    api.push(**text_message(3, text=None))
    api.push(**text_message(4, chat=PRIVATE_GROUP))
    api.push(**text_message(5, text="nothing about the brand"))
    api.push(**text_message(6, text="ACME is great"))
    last = api.push(**text_message(7, date="yesterday"))
    api.push_raw({"update_id": 999_999, "my_chat_member": {"chat": GROUP}})  # not in allowed_updates: not served
    items, listener = poll(source(api, limit=100, chats=["@Acme_Community"], keywords=["acme"]))
    assert [m.native_id for m in mentions(items)] == ["-1001500000001:6"]
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert [r.reason for r in rejected][0] == "acme-tg: update has no update_id"
    assert "message has no chat id" in rejected[1].reason and "no message_id or date" in rejected[2].reason
    assert json.loads(rejected[2].payload)["message"]["date"] == "yesterday"
    assert listener.skipped == {"without text or caption": 2, "outside the chat filter": 1, "without a keyword": 1}
    assert items[-1].cursor == {"offset": last["update_id"] + 1}


def test_long_polling_waits_for_an_update(api, env):
    threading.Timer(0.3, lambda: api.push(**text_message(1))).start()
    items, _ = poll(source(api, poll_timeout_s=5))
    assert len(mentions(items)) == 1 and api.requests[0][1]["timeout"] == 5


def test_probe_names_the_bot_and_warns_about_privacy_mode(api, env):
    assert source(api).probe() == "bot @acme_listen_bot (7001) answers"
    api.me["can_read_all_group_messages"] = False
    assert "privacy mode is on" in source(api).probe()


# -- push ----------------------------------------------------------------------------------


@pytest.fixture
def push_source(api, env) -> TelegramSource:  # type: ignore[no-untyped-def]
    return source(api, name="acme-tg-push", mode="push", secret_token={"env": "TG_SECRET"})


def test_set_webhook_and_probe_in_push_mode(api, push_source):
    assert "no webhook is set" in push_source.probe()
    push_source.set_webhook("https://intake.example/intake/acme-tg-push")
    assert api.webhook == {"url": "https://intake.example/intake/acme-tg-push", "secret_token": WEBHOOK_SECRET,
                           "allowed_updates": ["message", "edited_message", "channel_post", "edited_channel_post"]}
    assert push_source.probe().startswith("webhook is set to https://intake.example/intake/acme-tg-push")
    assert list(push_source.listener().poll(None)) == [] and api.requests[-1][0] == "getWebhookInfo"
    with pytest.raises(QueryRejected, match="mode: push"):
        source(api).set_webhook("https://x")


def test_webhook_updates_need_the_secret_header_and_are_queued_once(api, env, push_source, intake_queue,
                                                                     sqlite_engine, publisher):
    client = TestClient(create_intake_app([push_source, source(api)], intake_queue))
    body = json.dumps({"update_id": 77, "message": text_message(1)}).encode()
    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"},
                    {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET + "x"}):
        assert client.post("/intake/acme-tg-push", content=body, headers=headers).status_code == 401
    good = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET, "Content-Type": "application/json"}
    assert client.post("/intake/acme-tg", content=body, headers=good).status_code == 404  # a poll-mode bot
    assert intake_queue.depth() == 0

    assert client.post("/intake/acme-tg-push", content=body, headers=good).json() == {"accepted": 1, "rejected": 0}
    assert client.post("/intake/acme-tg-push", content=body, headers=good).json() == {"accepted": 0, "rejected": 0}
    sticker = json.dumps({"update_id": 78, "message": text_message(2, text=None, sticker={"file_id": "s"})}).encode()
    assert client.post("/intake/acme-tg-push", content=sticker, headers=good).json() == {"accepted": 0, "rejected": 0}
    member = json.dumps({"update_id": 79, "my_chat_member": {"chat": GROUP}}).encode()
    assert client.post("/intake/acme-tg-push", content=member, headers=good).json() == {"accepted": 0, "rejected": 0}
    assert client.post("/intake/acme-tg-push", content=b"{oops", headers=good).json() == {"accepted": 0, "rejected": 1}
    IntakePublisher(intake_queue, SourceState(sqlite_engine), publisher).drain_once()
    assert publisher.ids == ["telegram:-1001500000001:1"] and len(publisher.rejected) == 1
    assert client.get("/intake/acme-tg-push").status_code == 403
