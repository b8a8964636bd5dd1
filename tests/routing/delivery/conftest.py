"""Fixtures: every sink kind's receiver running locally, and a config for them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from routing.delivery.config import DeliveryConfig
from tests.fakes.delivery import SECRETS, Receivers, config_document, make_receivers


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    return SECRETS


@pytest.fixture
def receivers(secrets_env: dict[str, str]) -> Iterator[Receivers]:
    r = make_receivers().start()
    yield r
    r.stop()


@pytest.fixture
def delivery_config(receivers: Receivers) -> DeliveryConfig:
    return DeliveryConfig.model_validate(config_document(receivers))

