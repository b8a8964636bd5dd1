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
    "replay": "listeners.replay:ReplaySource",
    "webhook": "listeners.connectors.webhook:WebhookSource",
    "rss": "listeners.connectors.rss:RssSource",
    "imap": "listeners.connectors.imap:ImapSource",
    "reddit": "listeners.connectors.reddit:RedditSource",
    "youtube": "listeners.connectors.youtube:YoutubeSource",
    "vk": "listeners.connectors.vk:VkSource",
}


def connector_classes() -> dict[str, type[SourceBase]]:
    classes = {}
    for kind, target in CONNECTORS.items():
        module, _, name = target.partition(":")
        classes[kind] = getattr(import_module(module), name)
    return classes
