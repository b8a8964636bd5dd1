"""Bad rules files fail at load with the file, the line and the problem."""

import pytest

from routing.loader import RulesError, load_rules, parse_rules

GOOD = """\
version: 1
rules:
  - id: big-complaints
    when:
      all:
        - category: complaint
        - followers: {gte: 10000}
    then: {team: pr, priority: urgent}
  - id: rest
    when: {any: [{category: [question, lead]}, {not: {category: other}}]}
    then: {team: customer_service}
"""


def test_good_file_loads():
    rules = parse_rules(GOOD, "good.yaml")
    assert [r.id for r in rules.rules] == ["big-complaints", "rest"]


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("category: complaint", "category: complain", 6, "'complain' is not a valid Category"),
        ("{gte: 10000}", "{gtx: 10000}", 7, "followers.gtx: Extra inputs are not permitted"),
        ("team: pr,", "team: press,", 8, "rules[0].then.team"),
        ("priority: urgent", "priority: asap", 8, "rules[0].then.priority"),
        ("  - id: rest", "  - id: big-complaints", 9, "rules[1].id: rule id 'big-complaints' is used twice"),
        ("- followers: {gte: 10000}", "- followers: {gte: 10000}\n          brand: x", 7, "exactly one"),
        ("    then: {team: customer_service}", "", 9, "rules[1].then: Field required"),
    ],
)
def test_errors_name_file_line_and_problem(old, new, line, message):
    text = GOOD.replace(old, new)
    with pytest.raises(RulesError) as exc:
        parse_rules(text, "config/routing.yaml")
    assert f"config/routing.yaml:{line}:" in str(exc.value)
    assert message in str(exc.value)


def test_yaml_syntax_error_has_line():
    with pytest.raises(RulesError, match=r"broken\.yaml:4: YAML syntax: expected the node content"):
        parse_rules("version: 1\nrules:\n  - {id: a, when: [\n", "broken.yaml")


def test_yaml_is_safe_loaded():
    with pytest.raises(RulesError, match="YAML syntax|could not determine a constructor"):
        parse_rules("!!python/object/apply:os.system ['echo hi']\n", "evil.yaml")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(RulesError, match="nope.yaml: cannot read"):
        load_rules(tmp_path / "nope.yaml")


def test_sla_must_cover_every_priority():
    text = GOOD.replace("version: 1\n", "version: 1\nsla:\n  urgent: {first_response: 10m, resolution: 1h}\n")
    with pytest.raises(RulesError, match=r":3: sla: .*no targets for priority high, normal, low"):
        parse_rules(text, "f.yaml")


def test_reload_picks_up_a_changed_file_and_keeps_running_rules_on_a_bad_one(tmp_path, caplog):
    import os

    from mentionflow.models import Category
    from routing.engine import MentionFacts
    from routing.loader import ReloadingRules

    path = tmp_path / "routing.yaml"
    path.write_text(GOOD, encoding="utf-8")
    rules = ReloadingRules(path, check_every_s=0)
    question = MentionFacts(category=Category.QUESTION, confidence=0.9)
    assert rules().decide(question).team.value == "customer_service"

    def rewrite(text: str, tick: int) -> None:
        path.write_text(text, encoding="utf-8")
        os.utime(path, ns=(tick * 10**9, tick * 10**9))  # a distinct mtime even on coarse clocks

    rewrite(GOOD.replace("then: {team: customer_service}", "then: {team: sales}"), 1)
    assert rules().decide(question).team.value == "sales"

    rewrite(GOOD.replace("category: complaint", "category: complain"), 2)
    with caplog.at_level("ERROR"):
        assert rules().decide(question).team.value == "sales"  # the running rules stay
    assert f"{path}:6:" in caplog.text and "keeping the running rules" in caplog.text
    assert rules.last_error and "complain" in rules.last_error

    rewrite(GOOD, 3)
    assert rules().decide(question).team.value == "customer_service"
    assert rules.last_error is None


def test_first_load_of_a_bad_file_raises(tmp_path):
    from routing.loader import ReloadingRules

    path = tmp_path / "routing.yaml"
    path.write_text("version: 1\nrules: []\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"routing\.yaml:2: rules"):
        ReloadingRules(path)
