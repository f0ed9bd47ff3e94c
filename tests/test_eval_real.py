"""The main job on the real parts: SmolLM2-135M-Instruct in process, all-MiniLM-L6-v2 scoring, a real MLflow store."""
from __future__ import annotations

import json
import math
from pathlib import Path

from test_tracking import runs_of


def test_two_versions_on_the_local_model_are_compared_and_tracked(cli, project: Path):
    r = cli("eval", "--prompt", "explain@v1.0.0", "--prompt", "explain@v1.1.0", "--limit", "3", "--quiet",
            env={"HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["prompt", "model", "cases"]
    assert [line.split()[:3] for line in lines[2:4]] == [["explain@v1.0.0", "smollm2-135m-instruct", "3"],
                                                        ["explain@v1.1.0", "smollm2-135m-instruct", "3"]]
    runs = runs_of(project, "explain")
    assert [run.info.status for run in runs] == ["FINISHED", "FINISHED"]
    for run in runs:
        metrics = run.data.metrics
        assert run.data.params["model"] == "smollm2-135m-instruct"
        assert run.data.params["embedder"] == "all-MiniLM-L6-v2"
        assert metrics["errored"] == 0 and metrics["scored"] == 3
        assert 0 < metrics["similarity_mean"] <= 1
        table = json.loads((project / f"mlartifacts/explain/{run.info.run_id}/artifacts/cases.json").read_text())
        rows = [dict(zip(table["columns"], row)) for row in table["data"]]
        assert all(row["output"].strip() and row["input_tokens"] > 0 and 0 < row["output_tokens"] <= 160
                   for row in rows)
        assert metrics["tokens_in"] == sum(row["input_tokens"] for row in rows)
        assert metrics["tokens_out"] == sum(row["output_tokens"] for row in rows)
        assert not any(row["tokens_estimated"] for row in rows)
        assert math.isclose(metrics["pass_rate"], sum(row["passed"] for row in rows) / 3)
