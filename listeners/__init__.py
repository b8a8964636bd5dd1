"""Listeners: collect mentions from sources and publish them to ``mentions.raw``."""

from listeners.base import Checkpoint, Listener, ListenerOutput, Mode, Rejected
from listeners.publisher import MentionPublisher
from listeners.replay import ReplayListener
from listeners.runner import RunStats, run_listener

__all__ = [
    "Checkpoint",
    "Listener",
    "ListenerOutput",
    "MentionPublisher",
    "Mode",
    "Rejected",
    "ReplayListener",
    "RunStats",
    "run_listener",
]
