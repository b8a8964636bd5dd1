"""config/delivery.yaml: the shipped file loads; mistakes name file and line."""

import pytest
import yaml

from mentionflow.config_files import ConfigFileError
from mentionflow.models import Team
from mentionflow.settings import PROJECT_ROOT
from routing.delivery.config import DeliveryConfig, MissingSecret, RetryPolicy, load_delivery_config
from routing.delivery.sinks import build_sinks
from tests.fakes.delivery import config_document, make_receivers


def test_shipped_file_loads_and_sends_only_to_kafka_by_default():
    config = load_delivery_config(PROJECT_ROOT / "config" / "delivery.yaml")
    assert config.sinks == {}
    assert all(config.sinks_for(team) == [] for team in Team)
    assert config.retry.initial_s == 5 and config.retry.max_attempts == 20


def test_commented_examples_in_the_shipped_file_are_valid(tmp_path):
    text = (PROJECT_ROOT / "config" / "delivery.yaml").read_text()
    uncommented = "\n".join(
        line.replace("#  ", "  ", 1) if line.startswith("#  ") else line
        for line in text.replace("sinks: {}", "sinks:").replace("teams: {}", "teams:").splitlines()
    )
    path = tmp_path / "delivery.yaml"
    path.write_text(uncommented)
    config = load_delivery_config(path)
    assert set(config.sinks) == {"support-slack", "support-desk", "pr-mail", "crm-hook"}
    assert config.sinks_for(Team.PR) == ["pr-mail", "support-slack"]


def _write(tmp_path, doc) -> object:
    path = tmp_path / "delivery.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _line_of(path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("mutate", "needle", "problem"),
    [
        (lambda d: d["teams"]["sales"].append("crm-hok"), "crm-hok", "lists sink 'crm-hok', which is not defined"),
        (lambda d: d["sinks"]["crm-hook"].update(url="not a url"), "not a url", "URL"),
        (lambda d: d["sinks"]["crm-hook"].update(secret_env="my secret"), "my secret", "should match pattern"),
        (lambda d: d["sinks"]["crm-hook"].update(secret="inline"), "secret: inline", "Extra inputs are not permitted"),
        (lambda d: d["sinks"]["pr-mail"].update(username_env="SMTP_USER"), "SMTP_USER", "username_env needs password_env too"),
        (lambda d: d["sinks"]["support-slack"].update(kind="teams"), "kind: teams", "does not match any of the expected tags"),
        (lambda d: d["teams"].update(legal=["crm-hook"]), "legal:", "Input should be"),
        (lambda d: d.update(link="https://x.example/tickets"), "link:", "must contain {ticket_id}"),
        (lambda d: d["retry"].update(max_attempts=0), "max_attempts", "greater than or equal to 1"),
    ],
    ids=["unknown-sink", "bad-url", "bad-env-name", "inline-secret", "half-credentials", "unknown-kind",
         "unknown-team", "link-without-id", "no-attempts"],
)
def test_a_bad_file_fails_with_file_line_and_problem(tmp_path, mutate, needle, problem):
    doc = config_document(make_receivers())
    mutate(doc)
    path = _write(tmp_path, doc)
    with pytest.raises(ConfigFileError) as err:
        load_delivery_config(path)
    message = str(err.value)
    assert f"{path}:{_line_of(path, needle)}:" in message, message
    assert problem in message


def test_a_missing_secret_names_the_variable_not_a_value(monkeypatch):
    doc = config_document(make_receivers())
    monkeypatch.setenv("TEST_HOOK_SECRET", "whsec-1")
    monkeypatch.delenv("TEST_SLACK_TOKEN", raising=False)
    config = DeliveryConfig.model_validate(doc)
    with pytest.raises(MissingSecret, match="sink 'support-slack': environment variable TEST_SLACK_TOKEN is not set"):
        build_sinks(config)


def test_backoff_doubles_up_to_the_cap_and_jitter_only_shortens():
    policy = RetryPolicy(initial_s=5, max_s=60, jitter=0.5)
    assert [policy.delay_s(n, 0.0) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]
    assert policy.delay_s(3, 0.999) == pytest.approx(10.01, abs=0.01)
