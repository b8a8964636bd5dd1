"""``mentionflow classify`` and ``mentionflow route`` follow their JSON Lines contract."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mentionflow.models import Category

LABELS = {c.value for c in Category}
TEAMS = {"customer_service", "pr", "sales", "marketing", "none"}
UNSEEN = Path(__file__).resolve().parents[1] / "data" / "unseen_mentions.jsonl"


def run(args, stdin: str):
    return subprocess.run(
        [sys.executable, "-m", "mentionflow", *args], input=stdin, capture_output=True, text=True, timeout=600
    )


def lines(text: str):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def unseen():
    return UNSEEN.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def classified(unseen):
    result = run(["classify"], unseen)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_classify_adds_the_contract_fields_in_order(unseen, classified):
    inputs, outputs = lines(unseen), lines(classified)
    assert [o["id"] for o in outputs] == [i["id"] for i in inputs]
    for i, o in zip(inputs, outputs, strict=True):
        assert {k: o[k] for k in i} == i  # input kept, other keys too
        assert o["category"] in LABELS
        assert set(o["scores"]) == LABELS
        assert abs(sum(o["scores"].values()) - 1.0) < 1e-3
        assert o["confidence"] == pytest.approx(max(o["scores"].values()), abs=1e-5)
        assert o["scores"][o["category"]] == max(o["scores"].values())
        assert o["language"] == i["lang"]  # a given language is kept


def test_classify_generalises_to_unseen_mentions_in_ten_languages(unseen, classified):
    outputs = lines(classified)
    by_lang: dict[str, list[bool]] = {}
    for o in outputs:
        by_lang.setdefault(o["lang"], []).append(o["category"] == o["expected"])
    assert len(by_lang) == 10
    overall = sum(sum(v) for v in by_lang.values()) / len(outputs)
    # A regression floor, not the quality target (that is `mentionflow evaluate`).
    assert overall >= 0.85, {k: sum(v) / len(v) for k, v in by_lang.items()}


def test_classify_detects_language_when_not_given():
    stdin = "\n".join(json.dumps({"id": i, "text": t}) for i, t in enumerate([
        "Моя посилка загубилась, ніхто не відповідає на дзвінки",
        "Wo bleibt meine Bestellung? Seit zwei Wochen warte ich schon.",
    ]))
    out = lines(run(["classify"], stdin).stdout)
    assert [o["language"] for o in out] == ["uk", "de"]


def test_classify_reports_bad_lines_in_place_and_exits_2():
    stdin = "\n".join([
        json.dumps({"id": "a", "text": "thank you, best coffee in town"}),
        "{broken json",
        json.dumps({"id": "b"}),
        json.dumps({"id": "c", "text": 42}),
        json.dumps({"id": "d", "text": "   "}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"id": "e", "text": "where is my refund???"}),
    ])
    result = run(["classify"], stdin)
    assert result.returncode == 2
    out = lines(result.stdout)
    assert len(out) == 7
    assert out[0]["category"] in LABELS and out[6]["category"] in LABELS
    assert [o.get("error") is not None for o in out] == [False, True, True, True, True, True, False]
    assert out[2] == {"id": "b", "error": "line 3: missing field 'text'"}
    assert out[3]["id"] == "c" and "must be str" in out[3]["error"]
    assert "text is empty" in out[4]["error"]
    assert result.stderr.count("mentionflow:") == 5


def test_classify_file_options(tmp_path):
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps({"id": 1, "text": "Dzięki @kavarna, najlepsza kawa!"}) + "\n")
    result = run(["classify", "--input", str(src), "--output", str(dst)], "")
    assert result.returncode == 0, result.stderr
    [row] = lines(dst.read_text())
    assert row["id"] == 1 and row["category"] in LABELS


def test_route_follows_the_default_policy(classified):
    result = run(["route"], classified)
    assert result.returncode == 0, result.stderr
    for o in lines(result.stdout):
        assert o["team"] in TEAMS
        expected = {"complaint": "customer_service", "question": "customer_service", "lead": "sales",
                    "praise": "marketing", "other": "none"}[o["category"]]
        if o["category"] == "complaint" and o["author"]["followers"] >= 10_000:
            expected = "pr"
        assert o["team"] == expected
        assert o["rule"] and o["reasons"]
        assert (o["priority"] is None) == (o["team"] == "none")


def test_classify_pipes_into_route(tmp_path):
    stdin = json.dumps({"id": "p1", "text": "@skyjet cancelled my flight and nobody answers, disgrace",
                        "author": {"handle": "loud", "followers": 250_000}}) + "\n"
    shell = f"{sys.executable} -m mentionflow classify | {sys.executable} -m mentionflow route"
    result = subprocess.run(shell, shell=True, input=stdin, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    [row] = lines(result.stdout)
    assert row["category"] == "complaint"
    assert (row["team"], row["rule"], row["priority"]) == ("pr", "complaint-high-reach", "urgent")


def test_route_passes_upstream_errors_and_rejects_bad_categories():
    stdin = "\n".join([
        json.dumps({"id": "x", "error": "line 1: invalid JSON"}),
        json.dumps({"id": "y", "category": "rant", "confidence": 0.9}),
        json.dumps({"id": "z", "category": "lead", "confidence": 0.9}),
    ])
    result = run(["route"], stdin)
    assert result.returncode == 2
    out = lines(result.stdout)
    assert "upstream error" in out[0]["error"]
    assert "unknown category 'rant'" in out[1]["error"]
    assert out[2]["team"] == "sales"


def test_route_rejects_a_bad_rules_file_naming_file_and_line(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nrules:\n  - id: a\n    when: {category: complain}\n    then: {team: pr}\n")
    result = run(["route", "--rules", str(rules)], "")
    assert result.returncode == 1
    assert f"{rules}:4:" in result.stderr and "complain" in result.stderr
