"""``mentionflow evaluate``: the model and two baselines, side by side."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from mentionflow.settings import PROJECT_ROOT, get_settings

__all__ = ["evaluate_cmd"]

DEFAULT_OUT = PROJECT_ROOT / "docs" / "evaluation"


def _load_input(path: Path):  # type: ignore[no-untyped-def]
    """Labeled JSON Lines: ``text`` plus ``label`` (or ``expected``); ``lang``/``pattern`` optional."""
    from classifiers.data import LabeledMention

    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        obj = json.loads(line)
        label = obj.get("label", obj.get("expected"))
        if label is None or "text" not in obj:
            raise click.ClickException(f"{path}:{n}: needs 'text' and 'label' (or 'expected')")
        rows.append(LabeledMention(id=str(obj.get("id", n)), lang=obj.get("lang") or "und", text=obj["text"],
                                   label=label, pattern=obj.get("pattern", "plain")))
    return rows


@click.command("evaluate")
@click.option("--split", type=click.Choice(["test", "dev"]), default="test", show_default=True)
@click.option("--input", "input_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="labeled JSON Lines to evaluate on instead of a split")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_OUT, show_default=True)
@click.option("--baselines/--no-baselines", default=True, show_default=True)
def evaluate_cmd(split: str, input_path: Path | None, out_dir: Path, baselines: bool) -> None:
    """Accuracy, macro-F1, per-class, per-language and per-pattern figures and
    calibration error, for the model and (side by side) keyword rules and
    zero-shot prototypes; writes report.json, report.md and confusion PNGs."""
    from classifiers.baselines import KeywordBaseline, PrototypeBaseline
    from classifiers.data import load_split
    from classifiers.evaluation import evaluate, write_confusion_png, write_json
    from classifiers.model import MentionClassifier
    from classifiers.report_markdown import render_markdown

    settings = get_settings()
    rows = _load_input(input_path) if input_path else load_split(split)
    source = str(input_path) if input_path else f"{split} split"
    console = Console(soft_wrap=True)
    clf = MentionClassifier.load(settings.classifier_dir, settings.cache_dir)

    def model_predict(texts):  # type: ignore[no-untyped-def]
        return clf.probabilities(texts, settings.classify_batch_size).numpy()

    predictors = [("model", model_predict)]
    if baselines:
        predictors += [("keyword rules", KeywordBaseline()),
                       ("zero-shot prototypes", PrototypeBaseline(settings.encoder, settings.cache_dir))]
    reports = []
    for name, predict in predictors:
        with console.status(f"evaluating {name} on {len(rows)} mentions..."):
            reports.append(evaluate(name, predict, rows))
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(reports, out_dir / "report.json")
    for r in reports:
        write_confusion_png(r, out_dir / f"confusion-{r.name.replace(' ', '-')}.png")
    (out_dir / "report.md").write_text(render_markdown(reports, source, clf.model_version), encoding="utf-8")
    _print(console, reports, source)
    console.print(f"written: {out_dir / 'report.json'}, {out_dir / 'report.md'}, confusion-*.png")


def _print(console: Console, reports, source: str) -> None:  # type: ignore[no-untyped-def]
    names = [r.name for r in reports]
    summary = Table(title=f"Evaluation on {source} (n={reports[0].n})")
    summary.add_column("metric")
    for n in names:
        summary.add_column(n, justify="right")
    for label, get in [("accuracy", lambda r: r.accuracy), ("macro-F1", lambda r: r.macro_f1),
                       ("expected calibration error", lambda r: r.ece)]:
        summary.add_row(label, *(f"{get(r):.3f}" for r in reports))
    for cls in reports[0].per_class:
        summary.add_row(f"F1 {cls}", *(f"{r.per_class[cls]['f1']:.3f}" for r in reports))
    console.print(summary)
    model = reports[0]
    per_class = Table(title="Model: per class")
    for col in ("class", "precision", "recall", "F1", "support"):
        per_class.add_column(col, justify="right")
    for cls, m in model.per_class.items():
        per_class.add_row(cls, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(int(m["support"])))
    console.print(per_class)
    for title, key, fmt in [("Macro-F1 per language", "per_language", lambda v: f"{v:.3f}"),
                            ("Accuracy per pattern", "per_pattern", lambda v: f"{v['accuracy']:.3f} ({v['n']})")]:
        table = Table(title=title)
        table.add_column(key.split("_")[1])
        for n in names:
            table.add_column(n, justify="right")
        for k in getattr(model, key):
            table.add_row(k, *(fmt(getattr(r, key)[k]) for r in reports))
        console.print(table)
