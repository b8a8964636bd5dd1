import json

import pytest
from pydantic import ValidationError

from mentionflow.models import ClassifiedMention, Mention, ticket_id_for
from tests.factories import make_classified, make_mention


def test_mention_round_trips_through_json():
    m = make_mention(raw={"source": {"nested": [1, 2]}})
    assert Mention.model_validate_json(m.model_dump_json()) == m


def test_classified_mention_round_trips_through_json():
    c = make_classified()
    again = ClassifiedMention.model_validate_json(c.model_dump_json())
    assert again == c
    assert again.id == c.mention.id


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"text": "   "}, "text"),
        ({"author": {"handle": "a", "followers": "many"}}, "author.followers"),
        ({"created_at": "2026-11-20T12:00:00"}, "created_at"),  # naive: ambiguous
        ({"id": "reddit:1"}, "id must be"),
        ({"unexpected": 1}, "unexpected"),
        ({"platform": "X Corp"}, "platform"),
    ],
)
def test_invalid_mentions_are_rejected_naming_the_field(change, field):
    payload = json.loads(make_mention().model_dump_json())
    payload.update(change)
    with pytest.raises(ValidationError) as exc:
        Mention.model_validate_json(json.dumps(payload))
    assert field in str(exc.value)


def test_strict_contract_does_not_coerce_types():
    payload = json.loads(make_mention().model_dump_json())
    payload["author"]["followers"] = "120"
    with pytest.raises(ValidationError):
        Mention.model_validate_json(json.dumps(payload))


def test_ticket_id_is_stable_per_mention():
    assert ticket_id_for("x:1") == ticket_id_for("x:1")
    assert ticket_id_for("x:1") != ticket_id_for("x:2")
