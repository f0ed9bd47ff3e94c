"""The CI gate as CI runs it: the eval runbook executed by papermill, `llmops-wb ci` on a git checkout with a changed
prompt version, its exit codes and markdown summary, and the runbook's parameters arriving with their types."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import REPO

from llmops_wb.gate import RunbookError, execute_runbook


def git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), "-c", "user.email=ci@example.invalid", "-c", "user.name=ci", *args],
                   check=True, capture_output=True)


@pytest.fixture
def checkout(project: Path) -> Path:
    "The bundled project with its runbook, committed to a fresh git repository, as CI checks it out."
    (project / "nbs/runbooks").mkdir(parents=True)
    shutil.copy(REPO / "nbs/runbooks/eval_report.ipynb", project / "nbs/runbooks/eval_report.ipynb")
    git(project, "init", "-q")
    git(project, "add", ".")
    git(project, "commit", "-qm", "main")
    return project


def test_parameters_arrive_with_their_types(tmp_path):
    echo = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("version = repeats = threshold = baseline = tags = None",
                                  metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("import json\nprint(json.dumps({k: [repr(v), type(v).__name__] for k, v in "
                                  "dict(version=version, repeats=repeats, threshold=threshold, baseline=baseline, "
                                  "tags=tags).items()}))")])
    nbformat.write(echo, tmp_path / "echo.ipynb")
    done, _ = execute_runbook(tmp_path / "echo.ipynb", {"version": "v1.10.0", "repeats": 3, "threshold": 0.5,
                                                         "baseline": None, "tags": ["a", "b"]}, tmp_path / "out.ipynb")
    seen = json.loads(nbformat.read(done, as_version=4).cells[-1].outputs[0]["text"])
    assert seen == {"version": ["'v1.10.0'", "str"], "repeats": ["3", "int"], "threshold": ["0.5", "float"],
                    "baseline": ["None", "NoneType"], "tags": ["['a', 'b']", "list"]}


def test_the_runbook_runs_under_papermill_from_the_command_line(checkout, tmp_path):
    "papermill's own CLI, as a team would call it: -p values are typed, a version like v1.10.0 stays a string."
    (checkout / "prompts/summarize/v1.10.0.txt").write_text(
        (checkout / "prompts/summarize/v1.1.0.txt").read_text().replace("# v1.1.0", "# v1.10.0"))
    papermill = Path(sys.executable).parent / "papermill"
    result = tmp_path / "result.json"
    done = subprocess.run([str(papermill), "nbs/runbooks/eval_report.ipynb", str(tmp_path / "out.ipynb"), "-k",
                           "python3", "-p", "version", "v1.10.0", "-p", "model", "fake", "-p", "limit", "4",
                           "-p", "repeats", "2", "-p", "baseline", "none", "-p", "result_path", str(result)],
                          cwd=checkout, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(result.read_text())
    assert report["parameters"] == {"task": "summarize", "version": "v1.10.0", "dataset": None, "model": "fake",
                                    "repeats": 2, "baseline": "none", "limit": 4}
    assert (report["ref"], report["summary"]["cases"], report["summary"]["samples"]) == ("summarize@v1.10.0", 4, 8)


def test_ci_passes_an_unchanged_version_and_fails_a_regression(checkout, cli):
    # a new version as good as v1.1.0 (same template): the gate passes against v1.1.0
    same = (checkout / "prompts/summarize/v1.1.0.txt").read_text().replace("# v1.1.0", "# v1.2.0")
    (checkout / "prompts/summarize/v1.2.0.txt").write_text(same)
    ok = cli("ci", "--base", "HEAD", "--model", "fake", "--baseline", "summarize@v1.1.0", "--limit", "12")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    summary = (checkout / ".llmops_wb/ci-summary.md").read_text()
    assert "llmops-wb gate: **PASS**" in summary and "`summarize@v1.2.0`" in summary
    assert "| pass_rate |" in summary and "Cost estimate" in summary

    # a version whose answers miss the point: the fake model echoes its long instruction instead of the text
    worse = "# v1.2.0\n" + "Write a limerick about the sea and sailors and salt and waves. " * 60 + "\n\n{text}\n"
    (checkout / "prompts/summarize/v1.2.0.txt").write_text(worse)
    # 20 cases: the baseline passes about 8, all lost; 12 cases (5 lost) is too few for the rule's p < 0.05
    bad = cli("ci", "--base", "HEAD", "--model", "fake", "--baseline", "summarize@v1.1.0", "--limit", "20")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "llmops-wb gate: **FAIL**" in bad.stdout
    assert "summarize@v1.2.0: pass_rate regressed against summarize@v1.1.0" in bad.stdout
    assert "Traceback" not in bad.stderr


def test_ci_refuses_before_any_model_call(checkout, cli):
    # a runbook without a parameters cell (peer case C16)
    nb = nbformat.read(checkout / "nbs/runbooks/eval_report.ipynb", as_version=4)
    for cell in nb.cells: cell.metadata.pop("tags", None)
    nbformat.write(nb, checkout / "nbs/runbooks/eval_report.ipynb")
    done = cli("ci", "--prompt", "summarize@v1.1.0", "--model", "fake")
    assert done.returncode == 2 and "no cell tagged 'parameters'" in done.stderr, done.stderr
    assert not (checkout / "mlflow.db").exists()

    # a dataset whose fields do not match the template: lint fails the gate, no run is recorded
    git(checkout, "checkout", "--", "nbs")
    (checkout / "prompts/summarize/v1.2.0.txt").write_text("# v1.2.0\nSummarize: {body}\n")
    done = cli("ci", "--base", "HEAD", "--model", "fake")
    assert done.returncode == 1 and "P002" in done.stdout and "lint: 1 error" in done.stdout, done.stdout
    assert not (checkout / "mlflow.db").exists()


def test_a_runbook_parameter_it_does_not_declare_is_refused(tmp_path):
    with pytest.raises(RunbookError, match="parameter threshold is not assigned in the parameters cell"):
        execute_runbook(REPO / "nbs/runbooks/eval_report.ipynb", {"threshold": 0.5}, tmp_path / "out.ipynb")


def test_a_candidate_whose_calls_all_fail_never_passes(checkout, cli):
    "Every call fails (nothing listens): the gate fails, even with no baseline to compare with."
    settings = checkout / "settings.ini"
    settings.write_text(settings.read_text().replace("[prices]\n", "[prices]\nacme-down = 1, 1\n"))
    done = cli("ci", "--prompt", "summarize@v1.1.0", "--model", "openai:acme-down", "--limit", "3", "--baseline",
               "none", env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "LLMOPS_WB_MODEL_MAX_RETRIES": "0"})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "100% of the samples errored or could not be scored" in done.stdout


def test_a_bad_baseline_is_refused_before_any_model_call(checkout, cli):
    for baseline, message in [("summarize@v7.0.0", "unknown version summarize@v7.0.0"),
                              ("deadbeefdeadbeef", "no runs whose id starts with deadbeefdeadbeef"),
                              ("explain@v1.0.0", "is a version of another task")]:
        done = cli("ci", "--prompt", "summarize@v1.1.0", "--model", "fake", "--baseline", baseline)
        assert (done.returncode, message in done.stderr) == (2, True), done.stderr
    assert not (checkout / "mlartifacts").exists()
