"""What the long-running (streaming) listeners share: stopping them from another thread.

A streaming listener spends its life blocked reading a response or waiting
to reconnect. ``stop()`` must wake both: the wait is an ``Event``, and the
read is woken by shutting the socket down, since closing an httpx response
from another thread does not interrupt a blocked read.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress

import httpx

__all__ = ["Retry", "StoppableStream", "Stopped", "abort_response"]


class Stopped(Exception):
    """stop() was called while the listener waited."""


class Retry(Exception):
    """The connection ended in a way that calls for a reconnect after ``delay`` seconds."""

    def __init__(self, delay: float, reason: str) -> None:
        super().__init__(reason)
        self.delay = delay


def abort_response(response: httpx.Response) -> None:
    """Wake a thread blocked reading ``response`` (closing from another thread does not)."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is not None:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class StoppableStream:
    """Mixin: ``_stop`` (set by stop()), ``_response`` (the open stream, under ``_lock``)."""

    _stop: threading.Event
    _lock: threading.Lock
    _response: httpx.Response | None

    def _init_stop_control(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._response = None

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            response = self._response
        if response is not None:
            abort_response(response)

    def _sleep(self, seconds: float) -> None:
        """Wait, or raise Stopped as soon as stop() is called."""
        if self._stop.wait(seconds):
            raise Stopped
