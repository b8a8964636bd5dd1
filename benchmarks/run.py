"""Throughput figures for the pipeline's stages (``make bench``).

Prints numbers; asserts nothing. Run on an idle machine: these are CPU-bound.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mentionflow.settings import PROJECT_ROOT, get_settings

SAMPLE = PROJECT_ROOT / "listeners" / "samples" / "sample_mentions.jsonl"


def _texts() -> list[str]:
    return [json.loads(line)["text"] for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]


def bench_classifier(rows: list[tuple[str, str, str]]) -> None:
    from classifiers.model import MentionClassifier

    settings = get_settings()
    t0 = time.perf_counter()
    clf = MentionClassifier.load(settings.classifier_dir, settings.cache_dir)
    rows.append(("classifier", "load (encoder + head)", f"{time.perf_counter() - t0:.1f} s"))
    texts = _texts()
    clf.process(texts[:8])  # warm-up
    for batch in (1, 8, 32):
        n = 32 if batch == 1 else len(texts)
        t0 = time.perf_counter()
        clf.process(texts[:n], ["en"] * n, batch_size=batch)
        dt = time.perf_counter() - t0
        rows.append(("classifier", f"batch {batch}", f"{n / dt:.1f} mentions/s ({1000 * dt / n:.0f} ms each)"))


def bench_kafka(rows: list[tuple[str, str, str]]) -> None:
    from mentionflow.kafka import ensure_topics, make_consumer, make_producer
    from mentionflow.stack.broker import TansuBroker

    n, payload = 5000, b"x" * 300
    with tempfile.TemporaryDirectory() as tmp, TansuBroker(Path(tmp)) as broker:
        ensure_topics(broker.bootstrap_servers, 3)
        producer = make_producer(broker.bootstrap_servers)
        t0 = time.perf_counter()
        for i in range(n):
            producer.send("mentions.raw", key=str(i).encode(), value=payload)
        producer.flush()
        dt = time.perf_counter() - t0
        rows.append(("kafka", f"produce {n} x 300 B, acks=all", f"{n / dt:,.0f} msg/s"))
        consumer = make_consumer(broker.bootstrap_servers, "bench", ["mentions.raw"])
        got, t0 = 0, None
        while got < n:
            recs = sum(len(v) for v in consumer.poll(timeout_ms=500).values())
            if recs and t0 is None:
                t0 = time.perf_counter()
            got += recs
        dt = time.perf_counter() - (t0 or time.perf_counter())
        consumer.close()
        rows.append(("kafka", f"consume {n}", f"{n / max(dt, 1e-9):,.0f} msg/s"))


def bench_routing(rows: list[tuple[str, str, str]]) -> None:
    from mentionflow.models import Category
    from mentionflow.store import RoutedMention, TicketStore, make_engine, migrate
    from routing.engine import MentionFacts, RoutingEngine
    from routing.loader import load_rules
    from tests.factories import make_classified, make_mention

    engine = RoutingEngine(load_rules(get_settings().rules_file))
    facts = [MentionFacts(category=c, confidence=0.9, followers=f) for c in Category for f in (10, 50_000)]
    n = 100_000
    t0 = time.perf_counter()
    for i in range(n):
        engine.decide(facts[i % len(facts)])
    rows.append(("routing", "rule evaluation", f"{n / (time.perf_counter() - t0):,.0f} decisions/s"))

    with tempfile.TemporaryDirectory() as tmp:
        db = make_engine(f"sqlite:///{tmp}/bench.db")
        migrate(db)
        store = TicketStore(db)
        batch = []
        for i in range(2000):
            c = make_classified(make_mention(str(i)))
            d = engine.decide(MentionFacts.of(c))
            batch.append(RoutedMention(c, d.rule_id, engine.ticket_for(c, d)))
        t0 = time.perf_counter()
        for i in range(0, len(batch), 64):
            store.save(batch[i : i + 64])
        dt = time.perf_counter() - t0
        rows.append(("store", "SQLite save, batches of 64", f"{len(batch) / dt:,.0f} mentions/s"))


def main() -> None:
    console = Console()
    rows: list[tuple[str, str, str]] = []
    for bench in (bench_routing, bench_kafka, bench_classifier):
        with console.status(f"running {bench.__name__}..."):
            bench(rows)
    table = Table(title="Mentionflow benchmarks")
    for col in ("stage", "case", "result"):
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    console.print(table)


if __name__ == "__main__":
    main()
