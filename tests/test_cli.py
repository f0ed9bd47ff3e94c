"""The command line as a user runs it: answers, and one clear message with exit code 2 for every bad input."""
from __future__ import annotations

from pathlib import Path

import pytest


def test_help_lists_the_commands(cli):
    r = cli("--help")
    assert r.returncode == 0
    assert all(command in r.stdout for command in ("prompts", "eval", "ui"))


def test_prompts_list_sorts_versions_as_versions(cli, project: Path):
    for v in ("v1.9.0", "v1.10.0", "v2.0.0-rc.1"):
        (project / f"prompts/summarize/{v}.txt").write_text(f"# {v}\nSummarize: {{text}}\n")
    r = cli("prompts", "list", "--task", "summarize")
    assert r.returncode == 0, r.stderr
    refs = [line.split()[0] for line in r.stdout.splitlines()[2:]]
    assert refs == ["summarize@v1.0.0", "summarize@v1.1.0", "summarize@v1.9.0", "summarize@v1.10.0",
                    "summarize@v2.0.0-rc.1"]


def test_prompts_show_prints_the_template(cli, project: Path):
    r = cli("prompts", "show", "explain@v1.1.0")
    assert r.returncode == 0
    assert "variables: concept, audience" in r.stdout
    assert (project / "prompts/explain/v1.1.0.txt").read_text().split("\n", 1)[1].strip() in r.stdout


def write_dataset(project: Path, lines: list[str]) -> str:
    (project / "bad.jsonl").write_text("\n".join(lines) + "\n")
    return "bad.jsonl"


GOOD = '{"id": "ok", "input": {"text": "The meeting moved to Friday."}, "expected": "- Moved to Friday."}'

BAD_INPUTS = [
    ("latest", ["prompts", "show", "summarize@latest"], "'latest' is not a version"),
    ("no version", ["eval", "--prompt", "summarize"], "names no version: write summarize@vX.Y.Z"),
    ("unknown task", ["eval", "--prompt", "translate@v1.0.0"], "unknown task 'translate'"),
    ("unknown version", ["eval", "--prompt", "summarize@v9.0.0"], "versions of summarize: v1.0.0, v1.1.0"),
    ("unknown model", ["eval", "--prompt", "summarize@v1.1.0", "--model", "acme-llm-7b"],
     "unknown model 'acme-llm-7b'"),
    ("bad flag value", ["eval", "--prompt", "summarize@v1.1.0", "--threshold", "high"], "flag --threshold: 'high'"),
]


@pytest.mark.parametrize("name,args,message", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_gets_one_clear_message(cli, name, args, message):
    r = cli(*args)
    assert (r.returncode, "Traceback" in r.stderr) == (2, False), r.stderr
    assert message in r.stderr


def test_model_without_a_price_is_refused_before_any_call(cli, stub):
    from conftest import base_url
    r = cli("eval", "--prompt", "summarize@v1.1.0", "--model", "openai:acme-llm-7b",
            env={"OPENAI_BASE_URL": base_url(stub)})
    assert r.returncode == 2
    assert "no price for model 'acme-llm-7b' in settings.ini [prices]" in r.stderr
    assert dict(stub.RequestHandlerClass.counts) == {}


BAD_DATASETS = [
    ("malformed line", [GOOD, '{"id": "x", "input": {"text": "a"}'], "bad.jsonl:2: not valid JSON"),
    ("no id", [GOOD, '{"input": {"text": "a"}, "expected": "b"}'], "bad.jsonl:2: the case has no 'id'"),
    ("duplicate id", [GOOD, GOOD], "bad.jsonl:2: duplicate id 'ok', first used on line 1"),
    ("missing variable", [GOOD, '{"id": "y", "input": {"body": "a"}, "expected": "b"}'],
     "bad.jsonl:2: case 'y': summarize@v1.1.0: missing variable: text"),
]


@pytest.mark.parametrize("name,lines,message", BAD_DATASETS, ids=[b[0] for b in BAD_DATASETS])
def test_bad_dataset_names_file_and_line(cli, project: Path, name, lines, message):
    r = cli("eval", "--prompt", "summarize@v1.1.0", "--model", "fake", "--dataset", write_dataset(project, lines))
    assert (r.returncode, "Traceback" in r.stderr) == (2, False), r.stderr
    assert message in r.stderr
    assert not (project / "mlflow.db").exists()


def test_header_that_does_not_match_the_name(cli, project: Path):
    (project / "prompts/summarize/v1.2.0.txt").write_text("# v1.1.0\nSummarize: {text}\n")
    r = cli("eval", "--prompt", "summarize@v1.2.0", "--model", "fake")
    assert r.returncode == 2
    assert "v1.2.0.txt:1: header '# v1.1.0' does not match the file name" in r.stderr
    assert "make line 1 read '# v1.2.0'" in r.stderr


def test_bad_setting_names_file_and_key(cli, project: Path):
    (project / "settings.ini").write_text("[evaluate]\nconcurrency = many\n")
    r = cli("prompts", "list")
    assert r.returncode == 2
    assert "settings.ini [evaluate] concurrency: 'many' is not valid: expected a whole number" in r.stderr


def test_blank_references_are_left_out_and_reported(cli, project: Path):
    lines = [GOOD, '{"id": "c1", "input": {"text": "Say hi"}, "expected": "   "}',
             '{"id": "c2", "input": {"text": "Say bye"}, "expected": "\\n\\t"}']
    r = cli("eval", "--prompt", "summarize@v1.1.0", "--model", "fake", "--fake-embedder", "--no-track", "--quiet",
            "--dataset", write_dataset(project, lines))
    assert r.returncode == 0, r.stderr
    assert "bad.jsonl:2 case 'c1': expected is empty or whitespace" in r.stderr
    assert "bad.jsonl:3 case 'c2': expected is empty or whitespace" in r.stderr
    row = r.stdout.splitlines()[2].split()
    assert row[:3] == ["summarize@v1.1.0", "fake", "1"]


def test_a_file_that_is_not_a_model_is_refused(cli, project: Path):
    (project / "garbage.gguf").write_bytes(b"not a model" * 10)
    with open(project / "settings.ini", "a") as f: f.write("garbage = 0, 0\n")
    r = cli("eval", "--prompt", "explain@v1.1.0", "--model", f"local:{project / 'garbage.gguf'}")
    assert (r.returncode, "Traceback" in r.stderr) == (2, False)
    assert "garbage.gguf: not a GGUF model file" in r.stderr


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_limit_below_one_is_refused(cli, limit):
    r = cli("eval", "--prompt", "explain@v1.1.0", "--model", "fake", f"--limit={limit}")
    assert r.returncode == 2 and "is not a whole number of at least 1" in r.stderr


def test_ui_on_a_busy_port_says_so(cli):
    import socket
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        r = cli("ui", "--port", str(busy.getsockname()[1]))
    assert r.returncode == 2 and "cannot serve the MLflow UI on 127.0.0.1" in r.stderr


def test_a_run_where_every_call_fails_exits_1(cli, project: Path, stub):
    from conftest import base_url
    with open(project / "settings.ini", "a") as f: f.write("malformed = 0, 0\n")
    r = cli("eval", "--prompt", "explain@v1.1.0", "--model", "openai:malformed", "--fake-embedder", "--quiet",
            "--limit", "2", "--no-track", env={"OPENAI_BASE_URL": base_url(stub)})
    assert (r.returncode, "Traceback" in r.stderr) == (1, False), r.stderr
    assert "a malformed answer with no choices" in r.stderr
    assert "every call failed for explain@v1.1.0" in r.stderr
