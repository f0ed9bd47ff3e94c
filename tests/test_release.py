"""Release stages as a user moves them: promotions racing each other, an alias moved in the MLflow UI, bad input."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from llmops_wb.config import load_settings
from llmops_wb.registry import Stages, describe, read_stages, registered
from llmops_wb.release import history, plan_promotion, plan_rollback
from llmops_wb.tracking import mlflow_client

BIN = Path(sys.executable).parent
VERSIONS = {"v1.0.0": "Say hello to {name}.", "v1.1.0": "Say hello to {name}!",
            "v1.2.0": "Say hello to {name}.\n\nBe brief."}


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> Path:
    "A project with three versions of `greet`, each evaluated on the fake model with a passing gate."
    root = tmp_path_factory.mktemp("evaluated")
    (root / "prompts/greet").mkdir(parents=True)
    for version, text in VERSIONS.items():
        (root / f"prompts/greet/{version}.txt").write_text(f"# {version}\n{text}\n")
    (root / "datasets").mkdir()
    with open(root / "datasets/greet.jsonl", "w") as f:
        for i in range(12):
            f.write(json.dumps({"id": f"c{i}", "input": {"name": f"N{i}"}, "expected": f"Say hello to N{i}."}) + "\n")
    (root / "settings.ini").write_text("[model]\ndefault = fake\n[prices]\nfake = 0, 0\n")
    run(root, "eval", *[f"--prompt=greet@{v}" for v in VERSIONS], "--quiet", "--fake-embedder")
    for baseline, candidate in (("v1.1.0", "v1.0.0"), ("v1.0.0", "v1.1.0"), ("v1.0.0", "v1.2.0")):
        assert "pass" in run(root, "eval", "compare", f"greet@{baseline}", f"greet@{candidate}").stdout
    return root


@pytest.fixture
def greet(evaluated: Path, tmp_path: Path) -> Path:
    "A fresh copy of the evaluated project: its files and its MLflow store, with no stage set."
    shutil.copytree(evaluated, tmp_path / "greet")
    return tmp_path / "greet"


def run(project: Path, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    "`llmops-wb` in `project`, as a user runs it."
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLMOPS_WB_"))}
    r = subprocess.run([str(BIN / "llmops-wb"), *args], cwd=project, env={**clean, **(env or {})},
                       capture_output=True, text=True, timeout=300)
    assert not check or r.returncode == 0, r.stderr
    return r


def stages_of(project: Path) -> Stages:
    return read_stages(mlflow_client(load_settings(project, environ={})), "greet")


def test_promote_canary_switch_and_rollback(greet: Path):
    run(greet, "promote", "greet@v1.0.0", "--to", "production")
    r = run(greet, "promote", "greet@v1.1.0", "--to", "canary", "--weight", "10", "--reason", "friendlier")
    assert r.stdout.splitlines()[0] == "greet: production v1.0.0 (blue), canary v1.1.0 at 10%"
    run(greet, "promote", "greet@v1.1.0", "--to", "production")
    assert describe(stages_of(greet)) == "production v1.1.0 (green), previous v1.0.0"
    run(greet, "rollback", "greet", "--reason", "complaints")
    assert describe(stages_of(greet)) == "production v1.0.0 (blue), previous v1.1.0"

    out = run(greet, "stages", "greet").stdout
    lines = out.splitlines()
    assert [line.split()[:2] for line in lines[2:4]] == [["production", "v1.0.0"], ["previous", "v1.1.0"]]
    moves = [line.split()[3:6] for line in lines[lines.index(next(x for x in lines if x.startswith("when"))) + 2:]]
    assert moves == [["rollback", "production", "v1.0.0"], ["promote", "production", "v1.1.0"],
                     ["promote", "canary", "v1.1.0"], ["promote", "production", "v1.0.0"]]
    assert "complaints" in out and "friendlier" in out


def test_promotions_at_the_same_moment_leave_consistent_stages(greet: Path):
    run(greet, "promote", "greet@v1.0.0", "--to", "production")
    attempts = [("greet@v1.1.0", "production"), ("greet@v1.2.0", "production"), ("greet@v1.2.0", "canary", "20"),
                ("greet@v1.1.0", "staging")]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLMOPS_WB_"))}
    procs = [subprocess.Popen([str(BIN / "llmops-wb"), "promote", ref, "--to", to] + (["--weight", w[0]] if w else []),
                              cwd=greet, env=clean, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for ref, to, *w in attempts]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    outcomes = [(p.returncode, err) for p, err in zip(procs, errors)]

    for code, err in outcomes:
        assert code == 0 or (code == 1 and "changed while this move was checked" in err) or \
            (code == 2 and "it cannot also be its canary" in err), (code, err)
    assert any(code == 0 for code, _ in outcomes)
    # the recorded moves, replayed in order from the first production, give exactly the stages the registry holds
    client = mlflow_client(load_settings(greet, environ={}))
    moves = list(reversed(history(client, "greet")))
    assert len(moves) == 1 + sum(code == 0 for code, _ in outcomes)
    versions = registered(client, "greet")
    replayed = Stages("greet", {})
    for move in moves:
        replayed = plan_promotion(replayed, versions[move.version], move.stage, move.weight)
        assert describe(replayed) == move.after
    assert stages_of(greet) == replayed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(greet: Path):
    "An MLflow tracking server (the UI's backend) on the project's store, on a free loopback port."
    port = free_port()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
                               f"sqlite:///{greet}/mlflow.db", "--host", "127.0.0.1", "--port", str(port),
                               "--workers", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/health", timeout=1)
                break
            except OSError: time.sleep(0.2)
        else: raise AssertionError("the MLflow server did not start")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_an_alias_moved_in_the_mlflow_ui_is_honoured_and_flagged(greet: Path, mlflow_server: str):
    run(greet, "promote", "greet@v1.0.0", "--to", "production")
    (greet / "prompts/greet/v1.3.0.txt").write_text("# v1.3.0\nHello {name}, never evaluated.\n")
    run(greet, "prompts", "sync")
    from mlflow import MlflowClient  # the UI's own REST calls, through the server
    ui = MlflowClient(tracking_uri=mlflow_server)
    ui.set_prompt_alias("greet", "canary", registered(ui, "greet")["v1.3.0"].number)

    out = run(greet, "stages", "greet").stdout
    canary = next(line for line in out.splitlines() if line.startswith("canary"))
    assert "v1.3.0" in canary and "moved outside llmops-wb" in canary and "no passing run backs it" in canary
    assert "weight unknown" in canary
    # promoting through the tracking server works too: the same moves over MLflow's REST API
    r = run(greet, "promote", "greet@v1.1.0", "--to", "production", env={"LLMOPS_WB_TRACKING_URI": mlflow_server})
    assert r.stdout.splitlines()[0] == "greet: production v1.1.0 (green), canary v1.3.0, previous v1.0.0"


BAD = [
    ("unknown version", ["promote", "greet@v9.0.0", "--to", "production"], "unknown version greet@v9.0.0"),
    ("weight 0", ["promote", "greet@v1.1.0", "--to", "canary", "--weight", "0"], "not a whole number from 1 to 99"),
    ("weight 100", ["promote", "greet@v1.1.0", "--to", "canary", "--weight", "100"], "not a whole number from 1 to 99"),
    ("weight 12.5", ["promote", "greet@v1.1.0", "--to", "canary", "--weight", "12.5"], "not a whole number"),
    ("weight on production", ["promote", "greet@v1.1.0", "--to", "production", "--weight", "10"],
     "a weight is for a canary"),
    ("latest", ["promote", "greet@latest", "--to", "production"], "'latest' is not a version"),
    ("no passing run", ["promote", "greet@v1.3.0", "--to", "staging"], "no passing evaluation run backs greet@v1.3.0"),
    ("force without reason", ["promote", "greet@v1.3.0", "--to", "staging", "--force"], "--force needs --reason"),
    ("no previous", ["rollback", "greet"], "greet has no previous version to roll back to"),
    ("no canary", ["rollback", "greet", "--canary"], "greet has no canary"),
    ("already there", ["promote", "greet@v1.0.0", "--to", "production"], "greet@v1.0.0 is already in production"),
]


def test_bad_input_is_refused_and_the_stages_stay(greet: Path):
    (greet / "prompts/greet/v1.3.0.txt").write_text("# v1.3.0\nHello {name}, never evaluated.\n")
    run(greet, "promote", "greet@v1.0.0", "--to", "production")
    before, moves = stages_of(greet), len(history(mlflow_client(load_settings(greet, environ={})), "greet"))
    for name, args, message in BAD:
        r = run(greet, *args, check=False)
        assert (r.returncode, message in r.stderr, "Traceback" in r.stderr) == (2, True, False), (name, r.stderr)
        assert stages_of(greet) == before, name
    assert len(history(mlflow_client(load_settings(greet, environ={})), "greet")) == moves


def test_a_changed_released_file_stops_the_sync(greet: Path):
    run(greet, "prompts", "sync")
    assert "nothing new; 3 already there" in run(greet, "prompts", "sync").stdout
    (greet / "prompts/greet/v1.0.0.txt").write_text("# v1.0.0\nSay hi to {name}.\n")
    r = run(greet, "promote", "greet@v1.1.0", "--to", "production", check=False)
    assert r.returncode == 2
    assert f"{greet}/prompts/greet/v1.0.0.txt: changed since it was registered as greet version 1" in r.stderr
    assert stages_of(greet) == Stages("greet", {})


def test_rollback_replays(greet: Path):
    "A rollback is its own inverse: twice puts the stages back as they were."
    run(greet, "promote", "greet@v1.0.0", "--to", "production")
    run(greet, "promote", "greet@v1.1.0", "--to", "production")
    before = stages_of(greet)
    run(greet, "rollback", "greet")
    assert stages_of(greet) == plan_rollback(before)
    run(greet, "rollback", "greet")
    assert stages_of(greet) == before
