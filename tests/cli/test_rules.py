"""``mentionflow rules check`` and ``rules simulate``."""

import json
import os
import subprocess
import sys

from mentionflow.settings import PROJECT_ROOT

SHIPPED = PROJECT_ROOT / "config" / "routing.yaml"


def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None):
    return subprocess.run([sys.executable, "-m", "mentionflow", "rules", *args], input=stdin,
                          capture_output=True, text=True, timeout=600, env=env)


def test_check_accepts_the_shipped_rules():
    result = run("check", str(SHIPPED))
    assert result.returncode == 0, result.stderr
    assert "ok, 7 rules" in result.stdout


def test_check_names_file_line_and_problem_for_each_bad_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nrules:\n  - id: a\n    when: {regex: '(open'}\n    then: {team: pr}\n", encoding="utf-8")
    result = run("check", str(SHIPPED), str(bad))
    assert result.returncode == 1
    assert f"{bad}:4: rules[0].when" in result.stderr and "does not compile" in result.stderr
    assert "ok, 7 rules" in result.stdout  # the good file is still reported


def _mention(i: int, category: str, followers: int = 100, text: str = "hello") -> dict:
    return {"id": f"m{i}", "text": text, "category": category, "confidence": 0.9, "brand": "parcelo",
            "author": {"handle": f"user_{i}", "followers": followers}}


MENTIONS = [
    _mention(1, "complaint", 50_000, "lost parcel"),
    _mention(2, "complaint", 12_000, "REFUND please"),
    _mention(3, "complaint", 10, "where is my refund?"),
    _mention(4, "praise", 10, "great"),
    _mention(5, "lead", 10, "price for 20 seats?"),
    _mention(6, "other", 10, "lol"),
]


def test_simulate_shows_team_counts_and_every_mention_that_moves(tmp_path):
    # A changed rule: high-reach complaints about refunds go to customer service
    # instead of PR; a new first rule sends praise to PR.
    changed = SHIPPED.read_text(encoding="utf-8").replace(
        "        - followers: {gte: 10000}\n",
        "        - followers: {gte: 10000}\n        - not: {keyword: ['refund*']}\n",
    ).replace(
        "  - id: praise\n    description: praise\n    when: {category: praise}\n    then: {team: marketing, priority: low}",
        "  - id: praise\n    description: praise\n    when: {category: praise}\n    then: {team: pr, priority: low}",
    )
    new = tmp_path / "new.yaml"
    new.write_text(changed, encoding="utf-8")
    db = tmp_path / "untouched.db"
    stdin = "".join(json.dumps(m) + "\n" for m in MENTIONS)

    # the configured store is the one simulate must leave alone
    env = {**os.environ, "MENTIONFLOW_DATABASE_URL": f"sqlite:///{db}", "MENTIONFLOW_VAR_DIR": str(tmp_path)}
    result = run("simulate", str(new), "--input", "-", "--current", str(SHIPPED), stdin=stdin, env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "6 mentions routed" in out
    table = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.split()[:1] and line.split()[0] in
             {"customer_service", "pr", "marketing", "sales", "none"}}
    assert table["customer_service"] == ["1", "2", "+1"]
    assert table["pr"] == ["2", "2", "+0"]
    assert table["marketing"] == ["1", "0", "-1"]
    assert table["sales"] == ["1", "1", "+0"]
    assert "2 mentions change team:" in out
    assert "m2: pr (complaint-high-reach) -> customer_service (complaint)" in out
    assert "m4: marketing (praise) -> pr (praise)" in out
    assert "m1:" not in out and "m3:" not in out
    assert not db.exists()

    as_json = json.loads(run("simulate", str(new), "--input", "-", "--current", str(SHIPPED), "--json",
                             stdin=stdin).stdout)
    assert {c["id"]: (c["from"], c["to"]) for c in as_json["changed"]} == {
        "m2": ("pr", "customer_service"), "m4": ("marketing", "pr")}
    assert as_json["teams"]["marketing"] == {"current": 1, "new": 0}


def test_simulate_classifies_raw_mentions_and_reports_bad_lines(tmp_path):
    stdin = (json.dumps({"id": "r1", "text": "my parcel has been lost for two weeks, nobody answers"}) + "\n"
             + "{not json\n"
             + json.dumps({"id": "r2", "category": "complaint", "author": {"followers": -5}}) + "\n")
    result = run("simulate", str(SHIPPED), "--input", "-", stdin=stdin)
    assert result.returncode == 2
    assert "1 mentions routed" in result.stdout
    assert "line 2" in result.stderr and "followers" in result.stderr
    assert "0 mentions change team." in result.stdout


def test_simulate_rejects_a_bad_new_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nrules:\n  - {id: a, when: {category: x}, then: {team: pr}}\n", encoding="utf-8")
    result = run("simulate", str(bad), "--input", "-", stdin="")
    assert result.returncode == 1
    assert f"{bad}:3:" in result.stderr
