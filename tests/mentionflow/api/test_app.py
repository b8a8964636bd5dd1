"""The team inbox API over HTTP (in-process ASGI), on SQLite and PostgreSQL."""

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from mentionflow.api import create_app
from mentionflow.models import Author, Category, Priority, Team, Ticket, ticket_id_for, utcnow
from mentionflow.store import RoutedMention, TicketStore, make_engine, migrate
from mentionflow.store.tokens import TokenStore
from tests.factories import make_classified, make_mention


def seed(store: TicketStore, native_id: str, team: Team, category: Category = Category.COMPLAINT) -> str:
    now = utcnow()
    mention = make_mention(native_id, f"mention {native_id} for the api tests", created_at=now,
                           author=Author(handle=f"a{native_id}", followers=3))
    c = make_classified(mention, category=category)
    ticket = Ticket(id=ticket_id_for(c.id), mention_id=c.id, team=team, priority=Priority.HIGH, rule_id="r",
                    reasons=["rule r"], category=category, brand="parcelo", first_response_due_at=now + timedelta(hours=1),
                    resolution_due_at=now + timedelta(hours=8), created_at=now)
    store.save([RoutedMention(c, "r", ticket)])
    return ticket.id


@pytest.fixture
def api(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    store, tokens = TicketStore(engine), TokenStore(engine)
    ids = {
        "cs": seed(store, "1", Team.CUSTOMER_SERVICE),
        "cs2": seed(store, "2", Team.CUSTOMER_SERVICE, Category.QUESTION),
        "sales": seed(store, "3", Team.SALES, Category.LEAD),
    }
    auth = {
        "cs": {"Authorization": f"Bearer {tokens.create('carla', Team.CUSTOMER_SERVICE)}"},
        "sales": {"Authorization": f"Bearer {tokens.create('sam', Team.SALES)}"},
        "admin": {"Authorization": f"Bearer {tokens.create('ops', None)}"},
    }
    with TestClient(create_app(engine)) as client:
        yield client, ids, auth, tokens
    engine.dispose()


PROTECTED = [
    ("get", "/v1/me", None),
    ("get", "/v1/tickets", None),
    ("get", "/v1/tickets/{id}", None),
    ("post", "/v1/tickets/{id}/claim", {}),
    ("post", "/v1/tickets/{id}/respond", {}),
    ("post", "/v1/tickets/{id}/resolve", {}),
    ("post", "/v1/tickets/{id}/reopen", {}),
    ("post", "/v1/tickets/{id}/relabel", {"category": "praise"}),
    ("post", "/v1/tickets/{id}/reroute", {"team": "pr"}),
]


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
@pytest.mark.parametrize("header", [None, "Bearer nope", "Bearer mf_forged-token", "Basic Y2FybGE6eA=="])
def test_no_or_bad_token_is_401(api, method, path, body, header):
    client, ids, _, _ = api
    headers = {"Authorization": header} if header else {}
    r = client.request(method, path.format(id=ids["cs"]), json=body, headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED[2:])
def test_team_a_cannot_read_or_change_team_b_tickets(api, method, path, body):
    client, ids, auth, _ = api
    before = client.get(f"/v1/tickets/{ids['sales']}", headers=auth["admin"]).json()
    r = client.request(method, path.format(id=ids["sales"]), json=body, headers=auth["cs"])
    assert r.status_code == 404
    assert client.get(f"/v1/tickets/{ids['sales']}", headers=auth["admin"]).json() == before


def test_a_team_lists_only_its_own_tickets_and_admin_sees_all(api):
    client, ids, auth, _ = api
    mine = client.get("/v1/tickets", headers=auth["cs"]).json()
    assert {t["id"] for t in mine["items"]} == {ids["cs"], ids["cs2"]} and mine["total"] == 2
    assert client.get("/v1/tickets", params={"team": "sales"}, headers=auth["cs"]).json()["total"] == 2
    assert client.get("/v1/tickets", headers=auth["admin"]).json()["total"] == 3
    assert client.get("/v1/tickets", params={"team": "sales"}, headers=auth["admin"]).json()["total"] == 1
    assert client.get("/v1/me", headers=auth["sales"]).json() == {"name": "sam", "team": "sales"}


def test_filters_and_pagination(api):
    client, ids, auth, _ = api
    q = client.get("/v1/tickets", params={"category": "question"}, headers=auth["cs"]).json()
    assert [t["id"] for t in q["items"]] == [ids["cs2"]]
    page = client.get("/v1/tickets", params={"limit": 1, "offset": 1}, headers=auth["cs"]).json()
    assert (page["total"], len(page["items"]), page["offset"]) == (2, 1, 1)
    assert client.get("/v1/tickets", params={"sla_breached": "true"}, headers=auth["cs"]).json()["total"] == 0
    assert client.get("/v1/tickets", params={"status": "resolved"}, headers=auth["cs"]).json()["total"] == 0
    assert client.get("/v1/tickets", params={"limit": 0}, headers=auth["cs"]).status_code == 422
    assert client.get("/v1/tickets", params={"priority": "asap"}, headers=auth["cs"]).status_code == 422


def test_lifecycle_over_http_with_audit_trail(api):
    client, ids, auth, _ = api
    tid, h = ids["cs"], auth["cs"]
    assert client.post(f"/v1/tickets/{tid}/claim", headers=h).json()["assignee"] == "carla"
    assert client.post(f"/v1/tickets/{tid}/respond", json={"note": "replied in DM"}, headers=h).json()["status"] == "responded"
    assert client.post(f"/v1/tickets/{tid}/resolve", headers=h).json()["status"] == "resolved"
    assert client.post(f"/v1/tickets/{tid}/resolve", headers=h).status_code == 409
    assert client.post(f"/v1/tickets/{tid}/reopen", json={"reason": "came back"}, headers=h).json()["reopen_count"] == 1
    assert client.post(f"/v1/tickets/{tid}/relabel", json={"category": "question"}, headers=h).json()["category"] == "question"
    moved = client.post(f"/v1/tickets/{tid}/reroute", json={"team": "pr", "reason": "press"}, headers=h).json()
    assert moved["team"] == "pr"
    assert client.get(f"/v1/tickets/{tid}", headers=h).status_code == 404  # gone from customer service
    detail = client.get(f"/v1/tickets/{tid}", headers=auth["admin"]).json()
    assert [e["action"] for e in detail["events"]] == [
        "created", "claimed", "responded", "resolved", "reopened", "relabelled", "rerouted"]
    assert {e["actor"] for e in detail["events"][1:]} == {"carla"}
    assert detail["mention"]["text"].startswith("mention 1") and detail["mention"]["category"] == "complaint"
    assert detail["ticket"]["rule_id"] == "r" and detail["ticket"]["reasons"] == ["rule r"]


def test_unknown_fields_and_values_are_422(api):
    client, ids, auth, _ = api
    h = auth["cs"]
    assert client.post(f"/v1/tickets/{ids['cs']}/relabel", json={"category": "spam"}, headers=h).status_code == 422
    assert client.post(f"/v1/tickets/{ids['cs']}/reroute", json={"team": "legal"}, headers=h).status_code == 422
    assert client.post(f"/v1/tickets/{ids['cs']}/claim", json={"assignee": "x", "extra": 1}, headers=h).status_code == 422


def test_revoked_token_is_401(api):
    client, _, auth, tokens = api
    assert tokens.revoke("carla")
    assert client.get("/v1/me", headers=auth["cs"]).status_code == 401


def test_health_and_metrics_are_open_and_count_requests(api):
    client, _, auth, _ = api
    assert client.get("/healthz").json()["status"] == "ok"
    client.get("/v1/tickets", headers=auth["cs"])
    client.get("/v1/me")
    body = client.get("/metrics").text
    assert 'mentionflow_api_requests_total{method="GET",route="/v1/tickets",status="200"} 1.0' in body
    assert 'mentionflow_api_requests_total{method="GET",route="/v1/me",status="401"} 1.0' in body


def test_openapi_is_published_with_bearer_security(api):
    client, _, _, _ = api
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "Mentionflow team inbox"
    assert "/v1/tickets/{ticket_id}/reroute" in spec["paths"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_tokens_cli_creates_lists_and_revokes(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "MENTIONFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}

    def mf(*args):
        return subprocess.run([sys.executable, "-m", "mentionflow", "tokens", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    created = mf("create", "alice", "--team", "sales")
    assert created.returncode == 0 and created.stdout.startswith("mf_")
    assert "shown only now" in created.stderr
    assert mf("create", "alice", "--team", "pr").returncode == 1  # names are unique
    assert mf("create", "bob").returncode == 2  # a team or --admin is required
    listing = mf("list").stdout
    assert "alice" in listing and "sales" in listing and created.stdout.strip() not in listing
    assert mf("revoke", "alice").returncode == 0
    assert "revoked" in mf("list").stdout
    assert mf("revoke", "alice").returncode == 1


def test_metrics_report_the_outbox_per_sink_and_status(api, database_url):
    from sqlalchemy import update

    from mentionflow.store.outbox import OutboxEntry, enqueue
    from mentionflow.store.tables import DeliveryRow

    client = api[0]
    store = TicketStore(make_engine(database_url))
    ids = [seed(store, str(100 + i), Team.SALES) for i in range(3)]
    now = utcnow()
    with store.engine.begin() as conn:
        for tid in ids:
            enqueue(conn, store._insert, tid, [OutboxEntry("crm-hook", "sales", "owner", {})], now)
        conn.execute(update(DeliveryRow).where(DeliveryRow.ticket_id == ids[0]).values(status="failed"))
    body = client.get("/metrics").text
    assert 'mentionflow_deliveries{sink="crm-hook",status="failed"} 1.0' in body
    assert 'mentionflow_deliveries{sink="crm-hook",status="pending"} 2.0' in body
    store.engine.dispose()
