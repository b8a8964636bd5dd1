"""Every connector Mentionflow ships, by the ``kind`` used in ``config/sources.yaml``.

Modules are imported when the sources file is loaded; each keeps its
platform client imports inside functions, so loading stays cheap for the
Airflow DAG processor.
"""

from __future__ import annotations

from importlib import import_module

from listeners.connectors.base import SourceBase

__all__ = ["CONNECTORS", "connector_classes"]

#: kind -> "module:ConfigClass"
CONNECTORS: dict[str, str] = {
    "x": "listeners.connectors.x:XSource",
    "reddit": "listeners.connectors.reddit:RedditSource",
    "mastodon": "listeners.connectors.mastodon:MastodonSource",
    "youtube": "listeners.connectors.youtube:YoutubeSource",
    "facebook": "listeners.connectors.meta:FacebookSource",
    "instagram": "listeners.connectors.meta:InstagramSource",
    "vk": "listeners.connectors.vk:VkSource",
    "telegram": "listeners.connectors.telegram:TelegramSource",
    "rss": "listeners.connectors.rss:RssSource",
    "imap": "listeners.connectors.imap:ImapSource",
    "webhook": "listeners.connectors.webhook:WebhookSource",
    "replay": "listeners.replay:ReplaySource",
}


def connector_classes() -> dict[str, type[SourceBase]]:
    classes = {}
    for kind, target in CONNECTORS.items():
        module, _, name = target.partition(":")
        classes[kind] = getattr(import_module(module), name)
    return classes
