"""The MLflow record, end to end through processes: a run per evaluation, a stopped run closed as failed, and the
MLflow UI's server reading the store the CLI wrote."""
from __future__ import annotations

import json
import signal
import sys
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import BIN, base_url

from llmops_wb.config import load_settings
from llmops_wb.tracking import mlflow_client


def runs_of(project: Path, task: str):
    client = mlflow_client(load_settings(project, environ={}))
    experiment = client.get_experiment_by_name(task)
    return client.search_runs([experiment.experiment_id], order_by=["start_time ASC"]) if experiment else []


def test_each_version_is_one_run_in_the_experiment_of_its_task(cli, project: Path):
    r = cli("eval", "--prompt", "summarize@v1.0.0", "--prompt", "summarize@v1.1.0", "--prompt", "explain@v1.1.0",
            "--model", "fake", "--fake-embedder", "--limit", "5", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "llmops-wb ui --port 5000" in r.stdout
    summarize, explain = runs_of(project, "summarize"), runs_of(project, "explain")
    assert [run.data.params["prompt_version"] for run in summarize] == ["v1.0.0", "v1.1.0"]
    assert [run.data.params["prompt_version"] for run in explain] == ["v1.1.0"]
    run = summarize[1]
    assert run.info.status == "FINISHED"
    assert run.data.params["prompt_sha256"] == __import__("hashlib").sha256(
        (project / "prompts/summarize/v1.1.0.txt").read_bytes()).hexdigest()
    assert run.data.params["dataset_digest"].startswith("sha256:")
    assert run.data.metrics["cases"] == 5.0 and run.data.metrics["cost_usd"] == 0.0
    assert {"stage", "gate", "git_commit"} <= set(run.data.tags)
    table_file = project / f"mlartifacts/summarize/{run.info.run_id}/artifacts/cases.json"
    table = json.loads(table_file.read_text())
    assert len(table["data"]) == 5


def test_a_run_stopped_mid_way_is_closed_as_failed(cli, project: Path, stub):
    with open(project / "settings.ini", "a") as f: f.write("sleep-30 = 0, 0\n")
    env = {"OPENAI_BASE_URL": base_url(stub), "PATH": str(BIN)}
    proc = subprocess.Popen([str(BIN / "llmops-wb"), "eval", "--prompt", "summarize@v1.1.0",
                             "--model", "openai:sleep-30", "--fake-embedder", "--quiet", "--limit", "2"],
                            cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not stub.RequestHandlerClass.counts["sleep-30"] and time.monotonic() < deadline: time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    [run] = runs_of(project, "summarize")
    assert run.info.status == "FAILED"
    assert run.data.tags["error"].startswith("KeyboardInterrupt")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response: return json.loads(response.read())


def test_the_mlflow_ui_serves_the_runs_the_cli_wrote(cli, project: Path):
    assert cli("eval", "--prompt", "explain@v1.0.0", "--model", "fake", "--fake-embedder", "--limit", "3",
               "--quiet").returncode == 0
    port = free_port()
    server = subprocess.Popen([str(BIN / "llmops-wb"), "ui", "--port", str(port)], cwd=project,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        api = f"http://127.0.0.1:{port}/api/2.0/mlflow"
        deadline = time.monotonic() + 90
        while True:
            try:
                experiment = get_json(f"{api}/experiments/get-by-name?experiment_name=explain")["experiment"]
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None: pytest.fail("the MLflow UI did not start")
                time.sleep(0.5)
        request = urllib.request.Request(f"{api}/runs/search", method="POST",
                                         headers={"Content-Type": "application/json"},
                                         data=json.dumps({"experiment_ids": [experiment["experiment_id"]]}).encode())
        with urllib.request.urlopen(request, timeout=5) as response: [run] = json.loads(response.read())["runs"]
        params = {p["key"]: p["value"] for p in run["data"]["params"]}
        assert params["prompt_version"] == "v1.0.0" and run["info"]["status"] == "FINISHED"
        artifacts = get_json(f"{api}/artifacts/list?run_id={run['info']['run_id']}")
        assert {"cases.json", "summary.json"} <= {f["path"] for f in artifacts["files"]}
    finally:
        import os
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_evaluations_started_together_on_a_fresh_store_all_land(project: Path):
    command = [str(BIN / "llmops-wb"), "eval", "--prompt", "explain@v1.1.0", "--model", "fake", "--fake-embedder",
               "--quiet", "--limit", "2"]
    procs = [subprocess.Popen(command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outcomes = [(p.communicate(timeout=120)[1], p.returncode)[::-1] for p in procs]
    assert [code for code, _ in outcomes] == [0, 0, 0], [err[-500:] for _, err in outcomes]
    assert [run.info.status for run in runs_of(project, "explain")] == ["FINISHED"] * 3


def test_a_deleted_experiment_is_named_not_a_traceback(cli, project: Path):
    args = ("eval", "--prompt", "explain@v1.0.0", "--model", "fake", "--fake-embedder", "--limit", "1", "--quiet")
    assert cli(*args).returncode == 0
    client = mlflow_client(load_settings(project, environ={}))
    client.delete_experiment(client.get_experiment_by_name("explain").experiment_id)
    r = cli(*args)
    assert (r.returncode, "Traceback" in r.stderr) == (1, False)
    assert "the MLflow experiment 'explain' (id 1) is deleted" in r.stderr


INTERRUPT_DURING = '''
import os, signal, sys
from mlflow.tracking.client import MlflowClient
original, calls = getattr(MlflowClient, sys.argv[1]), []
def interrupted(self, *args, **kwargs):
    if not calls: os.kill(os.getpid(), signal.SIGTERM)  # one interrupt, landing in the first such store write
    calls.append(1)
    return original(self, *args, **kwargs)
setattr(MlflowClient, sys.argv[1], interrupted)
from llmops_wb.cli import main
sys.exit(main(sys.argv[2:]))
'''


@pytest.mark.parametrize("write,status", [("create_run", "FAILED"), ("log_batch", "FAILED"),
                                          ("log_table", "FINISHED"), ("set_terminated", "FINISHED")])
def test_an_interrupt_during_a_store_write_never_leaves_a_run_running(project: Path, write, status):
    r = subprocess.run([sys.executable, "-c", INTERRUPT_DURING, write, "eval", "--prompt", "explain@v1.1.0",
                        "--model", "fake", "--fake-embedder", "--quiet", "--limit", "2"],
                       cwd=project, capture_output=True, text=True, timeout=120)
    assert (r.returncode, "Traceback" in r.stderr) == (130, False), r.stderr[-2000:]
    assert [run.info.status for run in runs_of(project, "explain")] == [status]
