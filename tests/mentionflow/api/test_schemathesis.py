"""Property-based run of the whole OpenAPI spec: no input yields a server error.

Schemathesis generates requests from the published spec (valid and invalid
parameters and bodies, 30 per operation) and checks every response: no 5xx, status codes and
bodies as documented. Runs with an admin and a team token against a store
with tickets in every team.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from mentionflow.api import create_app
from mentionflow.models import Category, Team
from mentionflow.store import TicketStore, make_engine, migrate
from mentionflow.store.tokens import TokenStore
from tests.mentionflow.api.test_app import seed

_TOKENS: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('api') / 'store.db'}")
    migrate(engine)
    store = TicketStore(engine)
    for i, team in enumerate(Team):
        seed(store, str(i), team, Category.COMPLAINT)
    tokens = TokenStore(engine)
    _TOKENS["admin"] = tokens.create("ops", None)
    _TOKENS["team"] = tokens.create("carla", Team.CUSTOMER_SERVICE)
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(engine))


def test_no_input_makes_a_server_error(api_schema):
    # Driven through Hypothesis directly: one property per operation of the spec.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case):
            for who in ("admin", "team"):
                case.call_and_validate(headers={"Authorization": f"Bearer {_TOKENS[who]}"})

        check()
