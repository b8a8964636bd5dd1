"""The intake service: platforms push to ``/intake/<source name>``.

Each push source's receiver verifies the platform's signature scheme; an
unsigned, badly signed or replayed request gets 401 and nothing is queued.
An accepted request is written to the intake queue (one short transaction)
and answered 202 at once; ``IntakePublisher`` moves it to Kafka in the
background, so a slow broker never makes a platform time out and retry.
"""


import logging
from collections.abc import Sequence

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from listeners.base import Mode
from listeners.connectors.base import PushReceiver, SignatureRejected, SourceBase
from mentionflow.models import Mention
from mentionflow.store.listening import IntakeQueue

__all__ = ["MAX_BODY_BYTES", "create_intake_app"]

log = logging.getLogger(__name__)

#: platforms send far less; larger bodies are refused before they are read in full
MAX_BODY_BYTES = 2_000_000


def create_intake_app(sources: Sequence[SourceBase], queue: IntakeQueue) -> FastAPI:
    """Mount every enabled push source; resolving their secrets fails here, at start."""
    receivers: dict[str, PushReceiver] = {
        s.name: s.receiver() for s in sources if s.enabled and Mode.PUSH in s.active_modes()
    }
    app = FastAPI(title="Mentionflow intake", docs_url=None, redoc_url=None, openapi_url=None)

    def _receiver(name: str) -> PushReceiver:
        receiver = receivers.get(name)
        if receiver is None:
            raise HTTPException(404, "no push source of that name")
        return receiver

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok", "sources": sorted(receivers), "queued": queue.depth()}

    @app.get("/intake/{name}", response_class=PlainTextResponse)
    def handshake(name: str, request: Request) -> str:
        answer = _receiver(name).handshake(dict(request.query_params))
        if answer is None:
            raise HTTPException(403, "verification refused")
        return answer

    @app.post("/intake/{name}")
    async def receive(name: str, request: Request) -> JSONResponse:
        receiver = _receiver(name)
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise HTTPException(413, f"body larger than {MAX_BODY_BYTES} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > MAX_BODY_BYTES:
                raise HTTPException(413, f"body larger than {MAX_BODY_BYTES} bytes")
        try:
            # off the event loop: a receiver may call the platform back (Meta mention lookups)
            items = await run_in_threadpool(receiver.receive, dict(request.headers), bytes(body))
        except SignatureRejected as exc:
            log.warning("intake %s: refused a request: %s", name, exc)
            return JSONResponse({"detail": f"signature refused: {exc}"}, status_code=401)
        await run_in_threadpool(queue.put, name, [
            (i.id, i.model_dump_json().encode(), None) if isinstance(i, Mention) else (None, i.payload, i.reason)
            for i in items
        ])
        mentions = sum(isinstance(i, Mention) for i in items)
        return JSONResponse({"accepted": mentions, "rejected": len(items) - mentions}, status_code=202)

    return app
