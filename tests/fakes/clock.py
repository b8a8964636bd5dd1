"""A stand-in for ``time.sleep`` that records what a client asked to wait, without waiting."""

from __future__ import annotations

__all__ = ["Sleeps"]


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)
