"""``mentionflow demo`` routes the sample exactly once, however often it runs."""

import os
import re
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_demo_twice_routes_every_mention_once(tmp_path):
    db = tmp_path / "demo.db"
    env = {**os.environ, "MENTIONFLOW_DATABASE_URL": f"sqlite:///{db}", "MENTIONFLOW_VAR_DIR": str(tmp_path)}
    env.pop("MENTIONFLOW_BOOTSTRAP_SERVERS", None)
    runs = []
    for _ in range(2):
        result = subprocess.run([sys.executable, "-m", "mentionflow", "demo"], env=env,
                                capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stdout + result.stderr
        runs.append(result.stdout)
    def figures(out: str) -> dict[str, int]:
        return {k: int(v) for k, v in re.findall(r"^([a-z ()]+): (\d+)$", out, re.MULTILINE)}

    first, second = figures(runs[0]), figures(runs[1])
    routed, tickets = first["mentions routed"], first["tickets for them"]
    untouched, created = first["no ticket (other)"], first["new tickets this run"]
    assert routed >= 200 and created == tickets and tickets + untouched == routed
    assert second["mentions routed"] == routed and second["tickets for them"] == tickets
    assert second["new tickets this run"] == 0
    assert "Tickets per team and category" in runs[1]

    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM mentions")).scalar_one() == routed
        actionable = conn.execute(text("SELECT count(*) FROM mentions WHERE team IS NOT NULL")).scalar_one()
        assert conn.execute(text("SELECT count(*) FROM tickets")).scalar_one() == actionable == tickets
        assert conn.execute(text("SELECT count(DISTINCT mention_id) FROM tickets")).scalar_one() == tickets
