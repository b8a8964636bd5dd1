import json

import pytest

from listeners import Checkpoint, Rejected, ReplayListener
from listeners.replay import CHECKPOINT_LINES
from listeners.sources import load_sources
from mentionflow.config_files import ConfigFileError
from mentionflow.settings import PROJECT_ROOT
from tests.factories import raw_record


def mentions_and_rejects(outputs):
    return [o for o in outputs if not isinstance(o, Checkpoint)]


def write_lines(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))


def test_replay_builds_mentions_and_keeps_the_raw_record(tmp_path):
    f = tmp_path / "m.jsonl"
    write_lines(f, [raw_record("7", expected_label="complaint")])
    m, checkpoint = list(ReplayListener("r", f).poll(None))
    assert m.id == "x:7"
    assert m.author.followers == 10
    assert m.raw["expected_label"] == "complaint"  # unknown keys survive for audit
    assert checkpoint == Checkpoint({"path": str(f), "line": 1, "sha256": checkpoint.cursor["sha256"]})


def test_bad_lines_are_rejected_with_file_and_line(tmp_path):
    f = tmp_path / "m.jsonl"
    write_lines(f, [raw_record("1"), "{not json", raw_record("2", text=""), raw_record("3", author={"handle": "a", "followers": "x"})])
    items = mentions_and_rejects(ReplayListener("r", f).poll(None))
    assert not isinstance(items[0], Rejected)
    reasons = [i.reason for i in items[1:]]
    assert all(isinstance(i, Rejected) for i in items[1:])
    assert f"{f}:2: not JSON" in reasons[0]
    assert f"{f}:3:" in reasons[1] and "text is empty" in reasons[1]
    assert f"{f}:4:" in reasons[2] and "followers" in reasons[2]


def test_cursor_resumes_an_appended_file_and_restarts_a_rewritten_one(tmp_path):
    f = tmp_path / "m.jsonl"
    write_lines(f, [raw_record("1"), raw_record("2")])
    listener = ReplayListener("r", f)
    cursor = list(listener.poll(None))[-1].cursor
    assert list(listener.poll(cursor)) == []
    write_lines(f, [raw_record("1"), raw_record("2"), raw_record("3")])
    assert [m.id for m in mentions_and_rejects(listener.poll(cursor))] == ["x:3"]
    write_lines(f, [raw_record("9"), raw_record("2")])  # rewritten: start over
    assert [m.id for m in mentions_and_rejects(listener.poll(cursor))] == ["x:9", "x:2"]


def test_large_files_checkpoint_every_so_many_lines(tmp_path):
    f = tmp_path / "m.jsonl"
    write_lines(f, [raw_record(str(n)) for n in range(CHECKPOINT_LINES + 3)])
    lines = [c.cursor["line"] for c in ReplayListener("r", f).poll(None) if isinstance(c, Checkpoint)]
    assert lines == [CHECKPOINT_LINES, CHECKPOINT_LINES + 3]


def test_bundled_sample_is_valid_and_covers_ten_languages():
    f = PROJECT_ROOT / "listeners" / "samples" / "sample_mentions.jsonl"
    items = mentions_and_rejects(ReplayListener("sample", f).poll(None))
    assert len(items) >= 200
    assert not [i for i in items if isinstance(i, Rejected)]
    assert len({m.id for m in items}) == len(items)
    assert {m.language for m in items} >= {"en", "ru", "pl", "uk", "de", "es", "fr", "pt", "it", "tr"}


def test_shipped_sources_file_loads():
    sources = load_sources(PROJECT_ROOT / "config" / "sources.yaml")
    assert [s.name for s in sources.enabled()] == ["sample-replay"]


def test_sources_file_errors_name_the_line(tmp_path):
    f = tmp_path / "sources.yaml"
    f.write_text("version: 1\nsources:\n  - name: a\n    kind: replay\n    path: x\n  - name: b\n    kind: carrier-pigeon\n")
    with pytest.raises(ConfigFileError, match=r"sources\.yaml:6: .*kind"):
        load_sources(f)
