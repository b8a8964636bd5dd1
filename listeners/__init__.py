"""Listeners: collect mentions from sources and publish them to ``mentions.raw``."""

from listeners.base import Listener, ListenerItem, Rejected
from listeners.publisher import MentionPublisher
from listeners.replay import ReplayListener
from listeners.runner import RunStats, run_listener

__all__ = [
    "Listener",
    "ListenerItem",
    "MentionPublisher",
    "Rejected",
    "ReplayListener",
    "RunStats",
    "run_listener",
]
