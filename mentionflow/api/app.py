"""The team inbox API.

Every ``/v1`` route needs ``Authorization: Bearer <token>``. A token belongs
to one team (or is an admin token); scoping is applied by the inbox itself,
so a ticket of another team answers 404 exactly like a ticket that does not
exist. ``/healthz`` and ``/metrics`` carry no ticket content and are open, so
load balancers and Prometheus can reach them without a credential.
"""


import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, text

from mentionflow import __version__
from mentionflow.models import Category, Priority, Team, TicketStatus
from mentionflow.store.inbox import Conflict, Page, TicketDetail, TicketFilter, TicketInbox, TicketNotFound, TicketView
from mentionflow.store.outbox import Outbox
from mentionflow.store.tokens import Caller, TokenStore

__all__ = ["create_app"]

TicketId = Annotated[str, Path(min_length=1, max_length=64, description="ticket id")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClaimBody(_Body):
    assignee: str | None = Field(default=None, min_length=1, max_length=256, description="default: the caller")


class NoteBody(_Body):
    note: str | None = Field(default=None, max_length=10_000)


class ReopenBody(_Body):
    reason: str | None = Field(default=None, max_length=10_000)


class RelabelBody(_Body):
    category: Category


class RerouteBody(_Body):
    team: Team
    reason: str | None = Field(default=None, max_length=10_000)


class Me(BaseModel):
    name: str
    team: Team | None = Field(description="null for an admin token")


class Problem(BaseModel):
    detail: str


_ERRORS = {
    401: {"model": Problem, "description": "no or unknown token"},
    404: {"model": Problem, "description": "no such ticket for this team"},
    409: {"model": Problem, "description": "the change does not apply to the ticket as it is now"},
}


class OutboxCollector(Collector):
    """Deliveries per sink and status, read from the outbox at scrape time:
    a growing ``pending`` or any ``failed`` is what ops alert on."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("mentionflow_deliveries", "Ticket deliveries in the outbox", labels=["sink", "status"])
        for (sink, state), n in sorted(self._outbox.counts().items()):
            family.add_metric([sink, state], n)
        yield family


def create_app(engine: Engine) -> FastAPI:
    inbox = TicketInbox(engine)
    tokens = TokenStore(engine)
    registry = CollectorRegistry()
    requests = Counter("mentionflow_api_requests", "API requests", ["method", "route", "status"], registry=registry)
    latency = Histogram("mentionflow_api_request_seconds", "API request latency", ["route"], registry=registry)
    changes = Counter("mentionflow_ticket_changes", "Ticket lifecycle changes via the API", ["action", "team"],
                      registry=registry)
    registry.register(OutboxCollector(Outbox(engine)))

    app = FastAPI(
        title="Mentionflow team inbox",
        version=__version__,
        description="Tickets routed from social mentions, per team. Authenticate with `Authorization: Bearer <token>`; "
        "create tokens with `mentionflow tokens create`.",
    )
    bearer = HTTPBearer(auto_error=False)

    @app.middleware("http")
    async def _measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        requests.labels(request.method, route, str(response.status_code)).inc()
        latency.labels(route).observe(time.perf_counter() - started)
        return response

    def caller(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
        who = tokens.authenticate(creds.credentials) if creds and creds.scheme.lower() == "bearer" else None
        if who is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or unknown token",
                                headers={"WWW-Authenticate": "Bearer"})
        return who

    Who = Annotated[Caller, Depends(caller)]

    @app.exception_handler(TicketNotFound)
    async def _not_found(_: Request, exc: TicketNotFound) -> JSONResponse:
        return JSONResponse({"detail": f"no ticket {exc.args[0]}"}, status_code=404)

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """Liveness and database reachability."""
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"database unreachable: {type(exc).__name__}") from None
        return {"status": "ok", "version": __version__}

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    def metrics() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/me", tags=["auth"], responses=_ERRORS)
    def me(who: Who) -> Me:
        return Me(name=who.name, team=who.team)

    @app.get("/v1/tickets", tags=["tickets"], responses=_ERRORS)
    def list_tickets(
        who: Who,
        status_: Annotated[TicketStatus | None, Query(alias="status")] = None,
        priority: Priority | None = None,
        category: Category | None = None,
        language: Annotated[str | None, Query(max_length=16)] = None,
        platform: Annotated[str | None, Query(max_length=64)] = None,
        sla_breached: bool | None = None,
        team: Annotated[Team | None, Query(description="admins only; a team token always sees its own")] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> Page:
        """Tickets of the caller's team, newest first."""
        return inbox.list(who.team, TicketFilter(status_, priority, category, language, platform, sla_breached,
                                                 team, limit, offset))

    @app.get("/v1/tickets/{ticket_id}", tags=["tickets"], responses=_ERRORS)
    def get_ticket(who: Who, ticket_id: TicketId) -> TicketDetail:
        """One ticket with its mention, classification, rule and audit trail."""
        return inbox.get(who.team, ticket_id)

    def _changed(view: TicketView, action: str) -> TicketView:
        changes.labels(action, view.team.value).inc()
        return view

    @app.post("/v1/tickets/{ticket_id}/claim", tags=["lifecycle"], responses=_ERRORS)
    def claim(who: Who, ticket_id: TicketId, body: ClaimBody | None = None) -> TicketView:
        """Assign the ticket to the caller (or to `assignee`)."""
        return _changed(inbox.claim(who.team, ticket_id, who.name, body.assignee if body else None), "claim")

    @app.post("/v1/tickets/{ticket_id}/respond", tags=["lifecycle"], responses=_ERRORS)
    def respond(who: Who, ticket_id: TicketId, body: NoteBody | None = None) -> TicketView:
        """Record that the author was answered (stops the first-response clock)."""
        return _changed(inbox.respond(who.team, ticket_id, who.name, body.note if body else None), "respond")

    @app.post("/v1/tickets/{ticket_id}/resolve", tags=["lifecycle"], responses=_ERRORS)
    def resolve(who: Who, ticket_id: TicketId, body: NoteBody | None = None) -> TicketView:
        return _changed(inbox.resolve(who.team, ticket_id, who.name, body.note if body else None), "resolve")

    @app.post("/v1/tickets/{ticket_id}/reopen", tags=["lifecycle"], responses=_ERRORS)
    def reopen(who: Who, ticket_id: TicketId, body: ReopenBody | None = None) -> TicketView:
        return _changed(inbox.reopen(who.team, ticket_id, who.name, body.reason if body else None), "reopen")

    @app.post("/v1/tickets/{ticket_id}/relabel", tags=["lifecycle"], responses=_ERRORS)
    def relabel(who: Who, ticket_id: TicketId, body: RelabelBody) -> TicketView:
        """Correct the category; kept as feedback for the next training run."""
        return _changed(inbox.relabel(who.team, ticket_id, who.name, body.category), "relabel")

    @app.post("/v1/tickets/{ticket_id}/reroute", tags=["lifecycle"], responses=_ERRORS)
    def reroute(who: Who, ticket_id: TicketId, body: RerouteBody) -> TicketView:
        """Hand the ticket to another team; it arrives unassigned."""
        return _changed(inbox.reroute(who.team, ticket_id, who.name, body.team, body.reason), "reroute")

    return app
