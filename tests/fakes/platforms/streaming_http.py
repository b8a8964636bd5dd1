"""A FakeHTTPServer that can also hold a response open and stream it.

Streaming APIs (X's filtered stream, Mastodon's Server-Sent Events) answer
one long-lived chunked response. ``handle`` may return a
:class:`StreamingResponse` whose ``chunks`` iterator is written chunk by
chunk as it yields; raising :class:`DropConnection` from it cuts the TCP
connection mid-body, the way a platform restart or a network fault does.
Stopping the server ends every open stream.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.fakes.http import FakeHTTPServer, Request

__all__ = ["DropConnection", "StreamingFakeServer", "StreamingResponse"]


class DropConnection(Exception):
    """Raised by a stream body: close the connection without ending the chunked body."""


@dataclass
class StreamingResponse:
    status: int
    headers: dict[str, str]
    chunks: Iterator[bytes]


class StreamingFakeServer(FakeHTTPServer):
    def __init__(self, port: int | None = None) -> None:
        super().__init__(port)
        #: set while the server stops; stream bodies end when they see it
        self.closing = threading.Event()

    def start(self) -> StreamingFakeServer:
        owner = self
        self.closing.clear()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, self.path, dict(self.headers), body)
                answer = owner.handle(request)  # type: ignore[arg-type]
                if isinstance(answer, StreamingResponse):
                    self._stream(answer)
                    return
                status, headers, payload = answer
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _stream(self, answer: StreamingResponse) -> None:
                self.close_connection = True
                self.send_response(answer.status)
                for k, v in answer.headers.items():
                    self.send_header(k, v)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.wfile.flush()
                try:
                    for chunk in answer.chunks:
                        if chunk:
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                            self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except DropConnection:
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                except OSError:  # the client went away
                    pass
                finally:
                    close = getattr(answer.chunks, "close", None)
                    if close is not None:
                        close()

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.closing.set()
        super().stop()
