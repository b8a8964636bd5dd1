"""Poll the sources in config/sources.yaml that are due and publish to mentions.raw.

The DAG wakes every few minutes; each source is polled when its own
``every`` has passed since its last successful poll, so one DAG serves
sources with different schedules and a failed source is retried on the
next wake-up.

Heavy imports (Kafka client, SQLAlchemy) happen inside the tasks: the DAG
processor re-parses this file every 30 seconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

SCHEDULE = timedelta(minutes=5)


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
    def due_sources() -> list[str]:
        from listeners.poll import due_sources

        return due_sources()

    @task(max_active_tis_per_dag=4)
    def poll(source: str) -> dict:
        from listeners.poll import poll_source

        return poll_source(source)

    poll.expand(source=due_sources())


poll_sources()
