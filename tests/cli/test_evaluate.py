"""``mentionflow evaluate`` writes the report, the pictures and prints the comparison."""

import json
import subprocess
import sys
from pathlib import Path

UNSEEN = Path(__file__).resolve().parents[1] / "data" / "unseen_mentions.jsonl"


def test_evaluate_on_a_labeled_file(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mentionflow", "evaluate", "--input", str(UNSEEN), "--out-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert set(report) == {"model", "keyword rules", "zero-shot prototypes"}
    model = report["model"]
    assert model["n"] == 150
    assert set(model["per_language"]) == {"en", "ru", "pl", "uk", "de", "es", "fr", "pt", "it", "tr"}
    assert sum(map(sum, model["confusion"])) == 150
    assert 0 <= model["ece"] <= 1 and 0 <= model["macro_f1"] <= 1
    for name in report:
        png = tmp_path / f"confusion-{name.replace(' ', '-')}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "report.md").read_text()
    assert "| macro-F1 |" in md and "confusion-model.png" in md
    assert "Macro-F1 per language" in result.stdout and "keyword rules" in result.stdout
