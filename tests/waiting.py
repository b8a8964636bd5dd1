"""Waiting on running things: a condition with a deadline, a topic drained until idle."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from mentionflow.kafka import make_consumer
from mentionflow.stack.local import LocalStack

__all__ = ["drain", "wait_until"]


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str, stack: LocalStack | None = None) -> None:
    """Poll ``predicate``; fail at the deadline, or at once if a stack worker died."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if stack is not None:
            dead = [w.name for w in stack.dead_workers()]
            assert not dead, f"{dead} died; logs in {stack.run_dir}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def drain(bootstrap: str, topics: Sequence[str], group: str = "audit", idle_polls: int = 8) -> list:
    """Every record on ``topics``, read until ``idle_polls`` empty polls in a row."""
    c = make_consumer(bootstrap, group, list(topics))
    got, idle = [], 0
    while idle < idle_polls:
        recs = [r for rs in c.poll(timeout_ms=500).values() for r in rs]
        idle = idle + 1 if not recs and c.assignment() else 0
        got.extend(recs)
    c.close(autocommit=False)
    return got
