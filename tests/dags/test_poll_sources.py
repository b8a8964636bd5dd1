"""The poll_sources DAG parses cleanly and runs against the local stack."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mentionflow.kafka import Topics, ensure_topics, make_consumer
from mentionflow.settings import PROJECT_ROOT

DAGS = PROJECT_ROOT / "dags"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow_home")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }
    migrate = subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    return env


def test_dag_folder_imports_without_errors(airflow_env):
    code = (
        "import json; from airflow.dag_processing.dagbag import DagBag; "
        f"b = DagBag(dag_folder={str(DAGS)!r}); "
        "print(json.dumps({'errors': {k: str(v) for k, v in b.import_errors.items()}, 'dags': sorted(b.dags), "
        "'tasks': sorted(t.task_id for t in b.dags['poll_sources'].tasks)}))"
    )
    result = subprocess.run([sys.executable, "-c", code], env=airflow_env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["errors"] == {}
    assert "poll_sources" in report["dags"]
    assert report["tasks"] == ["due_sources", "poll"]


def test_dag_module_does_not_import_heavy_libraries_at_parse_time(airflow_env):
    code = (
        "import sys, runpy; runpy.run_path(%r); "
        "print(sorted(m for m in ('torch', 'transformers', 'kafka', 'sqlalchemy.orm') if m in sys.modules))"
    ) % str(DAGS / "poll_sources.py")
    result = subprocess.run([sys.executable, "-c", code], env=airflow_env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "torch" not in result.stdout and "transformers" not in result.stdout


@pytest.mark.integration
@pytest.mark.slow
def test_airflow_dags_test_publishes_the_configured_sources(airflow_env, broker, tmp_path):
    ensure_topics(broker.bootstrap_servers, partitions=1)
    env = {**airflow_env, "MENTIONFLOW_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
           "MENTIONFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'mf.db'}"}
    outputs = []
    for _ in range(2):
        result = subprocess.run([AIRFLOW, "dags", "test", "poll_sources"], env=env, capture_output=True,
                                text=True, timeout=600)
        assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
        assert "state=success" in result.stdout + result.stderr
        outputs.append(result.stdout + result.stderr)
    assert "'published': 240" in outputs[0]
    assert "'published'" not in outputs[1], "a source polled a moment ago is not due again"

    consumer = make_consumer(broker.bootstrap_servers, "check", [Topics().raw])
    seen, idle = set(), 0
    while idle < 6:
        recs = [r for rs in consumer.poll(timeout_ms=500).values() for r in rs]
        idle = idle + 1 if not recs and consumer.assignment() else 0
        seen.update(r.key for r in recs)
    consumer.close()
    assert len(seen) == 240
