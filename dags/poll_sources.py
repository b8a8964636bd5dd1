"""Poll every enabled source in config/sources.yaml and publish to mentions.raw.

Heavy imports (Kafka client, SQLAlchemy) happen inside the tasks: the DAG
processor re-parses this file every 30 seconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

SCHEDULE = timedelta(minutes=15)


@dag(
    dag_id="poll_sources",
    schedule=SCHEDULE,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["mentionflow", "listeners"],
    doc_md=__doc__,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1), "retry_exponential_backoff": True},
)
def poll_sources() -> None:
    @task
    def enabled_sources() -> list[str]:
        from listeners.sources import load_sources
        from mentionflow.settings import get_settings

        return [s.name for s in load_sources(get_settings().sources_file).enabled()]

    @task(max_active_tis_per_dag=4)
    def poll(source: str) -> dict:
        from listeners.poll import poll_source

        return poll_source(source)

    poll.expand(source=enabled_sources())


poll_sources()
