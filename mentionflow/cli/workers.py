"""``mentionflow worker classify|route``: one pipeline stage, until SIGTERM."""

from __future__ import annotations

import logging

import click

from mentionflow.settings import get_settings

__all__ = ["worker_cmd"]

log = logging.getLogger(__name__)


@click.command("worker")
@click.argument("kind", type=click.Choice(["classify", "route"]))
@click.option("--max-idle", type=float, default=None, help="exit after this many idle seconds")
def worker_cmd(kind: str, max_idle: float | None) -> None:
    """Run a classifier or router worker against the configured broker."""
    from mentionflow.kafka import BatchWorker, Topics, make_consumer, make_producer

    settings = get_settings()
    if not settings.bootstrap_servers:
        raise click.ClickException("MENTIONFLOW_BOOTSTRAP_SERVERS is not set")
    topics = Topics()
    producer = make_producer(settings.bootstrap_servers, settings)
    if kind == "classify":
        from classifiers.model import MentionClassifier
        from classifiers.worker import ClassifyHandler

        classifier = MentionClassifier.load(
            settings.classifier_dir, settings.cache_dir, review_threshold=settings.review_threshold
        )
        handler = ClassifyHandler(classifier, producer, topics, settings.classify_batch_size)
        source, group = topics.raw, "mentionflow-classifier"
    else:
        from mentionflow.store import TicketStore, make_engine, migrate
        from routing.loader import ReloadingRules
        from routing.worker import RouteHandler

        engine = make_engine(settings.database_url)
        migrate(engine)
        from routing.delivery import DeliveryPlan, load_delivery_config
        from routing.loader import RulesError

        try:
            rules = ReloadingRules(settings.rules_file)
            plan = DeliveryPlan(load_delivery_config(settings.delivery_file))
        except RulesError as exc:
            raise click.ClickException(str(exc)) from exc
        handler = RouteHandler(rules, TicketStore(engine), producer, topics, outbox=plan)
        source, group = topics.classified, "mentionflow-router"
    consumer = make_consumer(settings.bootstrap_servers, group, [source], settings)
    worker = BatchWorker(consumer, producer, handler, name=f"{kind}-worker", poll_timeout_ms=settings.consumer_poll_ms)
    worker.install_signal_handlers()
    worker.run(max_idle_s=max_idle)
