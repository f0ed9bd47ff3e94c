"""The runner against a real HTTP endpoint (the stub in bench/): retries that honour Retry-After on 429 and 5xx,
no retry on a 4xx, a deadline that ends a stalled call, and a response cache that makes a re-run call no model."""
from __future__ import annotations

import json
import math
import shutil
import time

import pytest
from conftest import REPO, base_url

from llmops_wb.config import load_settings
from llmops_wb.errors import UnknownModelError
from llmops_wb.evaluate import evaluate
from llmops_wb.scoring import HashEmbedder


@pytest.fixture
def echo_project(tmp_path, stub, monkeypatch):
    "A project with one task of four cases, priced for the stub's model names, pointed at the stub."
    (tmp_path / "prompts/echo").mkdir(parents=True)
    (tmp_path / "prompts/echo/v1.0.0.txt").write_text("# v1.0.0\nRepeat this.\n\n{text}\n")
    for rubric in ("judge_relevance", "judge_coherence", "judge_hallucination"):
        shutil.copytree(REPO / "prompts" / rubric, tmp_path / "prompts" / rubric)
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets/echo.jsonl").write_text("".join(
        json.dumps({"id": f"c{i}", "input": {"text": f"case {i} says hello"}, "expected": f"case {i} says hello"})
        + "\n" for i in range(4)))
    names = ["busy-2-1", "down-2", "status-400", "status-503", "sleep-5", "acme-4o", "judge-4"]
    (tmp_path / "settings.ini").write_text("[evaluate]\nconcurrency = 4\n[model]\nmax_retries = 2\n[prices]\n"
                                           + "".join(f"{n} = 1.0, 2.0\n" for n in names))
    monkeypatch.setenv("OPENAI_BASE_URL", base_url(stub))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return tmp_path


def run(project, model: str, **flags):
    settings = load_settings(project, environ={}, flags=flags)
    return evaluate("echo@v1.0.0", model=f"openai:{model}", settings=settings, progress=False,
                    embedder=HashEmbedder())


def test_429_retries_wait_as_long_as_retry_after_asks(echo_project, stub):
    start = time.perf_counter()
    result = run(echo_project, "busy-2-1", **{"evaluate.concurrency": 1})
    elapsed = time.perf_counter() - start
    assert result.summary["errored"] == 0 and result.summary["passed"] == 4
    assert [r.attempts for r in result.records] == [3, 1, 1, 1]  # the first call met both 429s
    assert result.summary["retries"] == 2
    assert elapsed >= 2.0  # two waits of Retry-After: 1 s, never the shorter backoff
    assert stub.RequestHandlerClass.counts["busy-2-1"] == 6


def test_5xx_is_retried_and_4xx_is_not(echo_project, stub):
    down = run(echo_project, "down-2", **{"evaluate.concurrency": 1})
    assert down.summary["errored"] == 0 and down.summary["retries"] == 2
    refused = run(echo_project, "status-400")
    assert refused.summary["errored"] == 4 and stub.RequestHandlerClass.counts["status-400"] == 4
    assert all(r.attempts == 1 and "InvalidRequestError" in r.error for r in refused.records)
    failing = run(echo_project, "status-503")
    assert failing.summary["errored"] == 4 and stub.RequestHandlerClass.counts["status-503"] == 12


def test_a_model_that_stalls_ends_each_case_within_its_deadline(echo_project):
    start = time.perf_counter()
    result = run(echo_project, "sleep-5", **{"evaluate.deadline_s": 0.5, "model.timeout_s": 30})
    assert time.perf_counter() - start < 3
    assert result.summary["errored"] == 4 and result.summary["pass_rate"] == 0.0
    assert all("deadline of 0.5s" in r.error for r in result.records)


def test_a_rerun_of_an_unchanged_evaluation_calls_no_model(echo_project, stub):
    first = run(echo_project, "acme-4o", **{"evaluate.repeats": 2})
    second = run(echo_project, "acme-4o", **{"evaluate.repeats": 2})
    assert stub.RequestHandlerClass.counts["acme-4o"] == 8
    assert (first.summary["cached"], second.summary["cached"]) == (0, 8)
    assert [r.output for r in first.records] == [r.output for r in second.records]
    assert first.summary["tokens_in"] == second.summary["tokens_in"]
    third = run(echo_project, "acme-4o", **{"evaluate.repeats": 2, "model.max_tokens": 3})  # new parameters
    assert third.summary["cached"] == 0 and stub.RequestHandlerClass.counts["acme-4o"] == 16


def test_judge_mode_scores_with_any_openai_compatible_model(echo_project, stub):
    result = run(echo_project, "acme-4o", **{"metrics.mode": "judge", "metrics.judge_model": "openai:judge-4"})
    assert stub.RequestHandlerClass.counts["judge-4"] == 4 * 3  # three rubrics per output
    assert {(r.relevance, r.coherence, r.hallucination) for r in result.records} == {(0.75, 0.75, 0.75)}
    assert result.params["metrics"] == "judge" and result.params["relevance_rubric"] == "judge_relevance@v1.0.0"
    assert result.summary["hallucination_rate"] == 1.0  # 0.75 is above the 0.27 threshold: every output flagged
    assert (result.summary["judge_calls"], result.summary["judge_errored"]) == (12, 0)
    assert result.summary["judge_cost_usd"] > 0
    again = run(echo_project, "acme-4o", **{"metrics.mode": "judge", "metrics.judge_model": "openai:judge-4"})
    assert stub.RequestHandlerClass.counts["judge-4"] == 12 and again.summary["judge_calls"] == 12  # from the cache


def test_a_judge_that_fails_leaves_outputs_unmeasured_and_counted(echo_project):
    result = run(echo_project, "acme-4o", **{"metrics.mode": "judge", "metrics.judge_model": "openai:status-503",
                                             "model.max_retries": 0})
    assert result.summary["judge_errored"] == 12
    assert math.isnan(result.summary["coherence_mean"])  # unmeasured, never a default score
    with pytest.raises(UnknownModelError, match="no price for model 'unpriced'"):
        run(echo_project, "acme-4o", **{"metrics.mode": "judge", "metrics.judge_model": "openai:unpriced"})
