"""The GitHub workflow that teams copy: it runs on pull requests, calls the gate with flags the CLI accepts, posts
the summary and fails the job exactly when the gate does."""
from __future__ import annotations

import re
import shlex

import yaml
from conftest import REPO

from llmops_wb.cli import build_parser

WORKFLOW = yaml.safe_load((REPO / ".github/workflows/llm-ci.yml").read_text())
STEPS = {step.get("name", step.get("uses", "")): step for step in WORKFLOW["jobs"]["gate"]["steps"]}


def test_it_runs_on_pull_requests_that_touch_prompts():
    on = WORKFLOW[True]  # YAML 1.1 reads the key `on` as true
    assert "prompts/**" in on["pull_request"]["paths"]
    assert WORKFLOW["permissions"]["pull-requests"] == "write"


def test_the_gate_command_parses_with_the_real_cli():
    script = STEPS["Run the gate"]["run"]
    line = next(ln for ln in script.splitlines() if ln.strip().startswith("llmops-wb "))
    argv = shlex.split(re.sub(r"\$\{\{[^}]*\}\}", "main", line))[1:]
    args = build_parser().parse_args(argv)
    assert (args.command, args.base, str(args.summary)) == ("ci", "origin/main", "ci-summary.md")


def test_the_summary_is_posted_and_the_job_fails_with_the_gate():
    assert "ci-summary.md" in STEPS["Post the summary on the pull request"]["run"]
    assert STEPS["Post the summary on the pull request"]["if"].startswith("always()")
    fail = STEPS["Fail on a regression or a failed check"]
    assert fail["if"] == "steps.gate.outputs.exit_code != '0'" and "exit 1" in fail["run"]
    assert "exit_code=$?" in STEPS["Run the gate"]["run"]
    assert STEPS["actions/checkout@v4"]["with"]["fetch-depth"] == 0


def test_unset_repository_variables_fall_back_to_working_values():
    env = WORKFLOW["jobs"]["gate"]["env"]
    assert env["LLMOPS_WB_TRACKING_URI"].endswith("|| 'sqlite:///mlflow.db' }}")
    assert "$LLMOPS_WB_PACKAGE" in STEPS["Set up"]["run"]
