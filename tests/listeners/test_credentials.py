"""Credentials are references: resolved from the environment or Airflow, never inline, never shown."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from listeners.credentials import Credential
from listeners.errors import MissingCredential


def test_an_environment_variable_is_resolved(monkeypatch):
    monkeypatch.setenv("MF_TEST_TOKEN", "s3cr3t")
    secret = Credential(env="MF_TEST_TOKEN").resolve()
    assert secret.value == "s3cr3t"
    assert "s3cr3t" not in repr(secret)


def test_a_missing_variable_is_named_and_no_value_is_shown(monkeypatch):
    monkeypatch.delenv("MF_TEST_TOKEN", raising=False)
    with pytest.raises(MissingCredential, match="environment variable MF_TEST_TOKEN is not set"):
        Credential(env="MF_TEST_TOKEN").resolve()


def test_an_airflow_connection_is_read_from_airflows_own_environment_backend(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_MF_REDDIT", '{"conn_type": "http", "login": "app-id", "password": "app-secret"}')
    secret = Credential(airflow_conn="mf_reddit").resolve()
    assert (secret.login, secret.value) == ("app-id", "app-secret")


def test_a_missing_airflow_connection_is_named(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_MF_NOWHERE", raising=False)
    with pytest.raises(MissingCredential, match="'mf_nowhere'"):
        Credential(airflow_conn="mf_nowhere").resolve()


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("hunter2", "never written in the sources file"),
        ({"env": "A", "airflow_conn": "b"}, "exactly one"),
        ({}, "exactly one"),
        ({"env": "not a name"}, "pattern"),
    ],
)
def test_bad_references_are_refused(value, words):
    with pytest.raises(ValidationError, match=words):
        Credential.model_validate(value)
