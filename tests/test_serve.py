"""The service over real HTTP: `llmops-wb serve` (uvicorn) on loopback, the stub model server, and real Redis."""
from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from conftest import BIN, base_url
from conftest import REDIS_URL as REDIS

from llmops_wb.cost import count_tokens
from llmops_wb.prompts import load_prompt

TEMPLATE = "Greet {name} in one short sentence.\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_project(root: Path, settings: str, tasks: tuple[str, ...] = ("greet",)) -> Path:
    "A project with one prompt version per task and `settings`."
    for task in tasks:
        (root / "prompts" / task).mkdir(parents=True, exist_ok=True)
        (root / "prompts" / task / "v1.0.0.txt").write_text("# v1.0.0\n" + TEMPLATE)
    (root / "settings.ini").write_text(settings)
    return root


def serve_env(project: Path, stub=None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLMOPS_WB_", "PROMETHEUS_", "OTEL_"))}
    tasks = sorted(p.name for p in (project / "prompts").iterdir())
    env.update(PROMPT_VERSION=",".join(f"{t}@v1.0.0" for t in tasks), OPENAI_API_KEY="stub", **extra)
    if stub is not None: env["OPENAI_BASE_URL"] = base_url(stub)
    return env


@contextlib.contextmanager
def serving(project: Path, env: dict[str, str], *args: str):
    "`llmops-wb serve` in `project` on a free port until the block ends; yields the port once /readyz says ready."
    port = free_port()
    process = subprocess.Popen([str(BIN / "llmops-wb"), "serve", "--port", str(port), *args], cwd=project, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None: raise AssertionError(f"serve exited: {process.stdout.read()}")
            try:
                if request(port, "GET", "/readyz")[0] == 200: break
            except OSError: pass
            if time.monotonic() > deadline: raise AssertionError("the service did not become ready")
            time.sleep(0.1)
        yield port
    finally:
        process.send_signal(signal.SIGINT)
        try: process.wait(timeout=30)
        except subprocess.TimeoutExpired: process.kill()
        process.stdout.close()


def request(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, dict | str, dict]:
    "One HTTP request; the status, the JSON (or text) body and the headers."
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        data = json.dumps(body).encode() if body is not None else None
        connection.request(method, path, data, {"Content-Type": "application/json"} if data else {})
        response = connection.getresponse()
        text = response.read().decode()
        kind = response.getheader("Content-Type", "")
        return response.status, json.loads(text) if "json" in kind else text, dict(response.getheaders())
    finally:
        connection.close()


def run(port: int, task: str = "greet", **body) -> tuple[int, dict, dict]:
    return request(port, "POST", f"/v1/tasks/{task}/run", {"variables": {"name": "Ada"}, **body})


def metric(text: str, name: str, **labels: str) -> float:
    "The sum of the samples of `name` whose labels include `labels`."
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if not match: continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(have.get(k) == v for k, v in labels.items()): total += float(match.group(2))
    return total


def stub_counts(stub) -> dict[str, int]:
    return dict(stub.RequestHandlerClass.counts)


def test_two_replicas_share_one_budget(tmp_path: Path, stub, prefix: str):
    "40 simultaneous requests reserving 500 tokens each, on two replicas sharing a budget of 10,000: 20 admitted."
    project = make_project(tmp_path, "[model]\nmax_tokens = 1000\n[serve]\nmodels = openai:sleep-2\n"
                                     f"[limits]\nstore = redis\nredis_url = {REDIS}\nredis_prefix = {prefix}\n"
                                     "monthly_token_budget = 10000\ndegrade_at = 1\nrate_per_minute = 1000\n"
                                     "[prices]\nsleep-2 = 0, 0\n")
    rendered = load_prompt(project / "prompts", "greet@v1.0.0").render({"name": "Ada"})
    n = count_tokens(rendered, "sleep-2").n
    max_tokens = 500 - (n + n // 4 + 16)  # the reservation: the prompt, a margin for other tokenizers, the output cap
    env = serve_env(project, stub)
    with serving(project, env) as first, serving(project, env) as second:
        with ThreadPoolExecutor(40) as pool:
            answers = list(pool.map(lambda i: run((first, second)[i % 2], caller=f"caller-{i}", max_tokens=max_tokens),
                                    range(40)))
    statuses = [status for status, _, _ in answers]
    assert (statuses.count(200), statuses.count(429)) == (20, 20)
    assert {body["error"]["type"] for status, body, _ in answers if status == 429} == {"over_budget"}
    import redis
    client = redis.Redis.from_url(REDIS)
    [key] = list(client.scan_iter(f"{prefix}:budget:*"))
    spent = int(client.get(key))
    client.close()
    used = sum(body["usage"]["input_tokens"] + body["usage"]["output_tokens"] for s, body, _ in answers if s == 200)
    assert spent == used  # the reservations were settled with what the model reported


def test_a_rate_limit_holds_across_a_minute_boundary(tmp_path: Path, stub):  # peer case C20
    project = make_project(tmp_path, "[serve]\nmodels = openai:bench\n[limits]\nrate_per_minute = 5\n"
                                     "[prices]\nbench = 0, 0\n")
    with serving(project, serve_env(project, stub)) as port:
        time.sleep((59.4 - time.time() % 60) % 60)  # just before a wall-clock minute turns
        before = [run(port, caller="k1")[0] for _ in range(5)]
        time.sleep(max(0.0, 60.3 - time.time() % 60) if time.time() % 60 > 50 else 0.3)
        after = [run(port, caller="k1") for _ in range(5)]
    assert before == [200] * 5
    assert [status for status, _, _ in after] == [429] * 5
    assert all(55 <= int(headers["retry-after"]) <= 60 for _, _, headers in after)
    assert after[0][1]["error"]["type"] == "rate_limited"


FALLBACK_SETTINGS = """[model]
max_tokens = 64
timeout_s = 1
max_retries = 1
[serve]
models = openai:bench
deadline_s = 10
attempt_s = 5
stall_s = 0.5
[task.slow]
models = openai:sleep-5, openai:bench
[task.busy]
models = openai:status-429, openai:bench
[task.down]
models = openai:status-503, openai:bench
[task.refused]
models = openai:status-400, openai:bench
[task.stalled]
models = openai:stall-0-5, openai:bench
[task.cut]
models = openai:stall-2-5, openai:bench
[task.garbled]
models = openai:malformed, openai:bench
[prices]
bench = 0, 0
sleep-5 = 0, 0
status-429 = 0, 0
status-503 = 0, 0
status-400 = 0, 0
stall-0-5 = 0, 0
stall-2-5 = 0, 0
malformed = 0, 0
"""


def sse(port: int, task: str, **body) -> list[tuple[str, dict]]:
    "The events of a streamed request."
    status, text, _ = run(port, task, stream=True, **body)
    assert status == 200, text
    return [(block.split("\n")[0][len("event: "):], json.loads(block.split("\n")[1][len("data: "):]))
            for block in text.strip().split("\n\n")]


def test_fallback_on_each_fault_that_calls_for_it_and_not_on_a_400(tmp_path: Path, stub):  # peer cases C08, C09
    tasks = ("slow", "busy", "down", "refused", "stalled", "cut", "garbled")
    project = make_project(tmp_path, FALLBACK_SETTINGS, tasks)
    with serving(project, serve_env(project, stub)) as port:
        # max_retries = 1: a timeout, a 429 and a 5xx are each tried twice before the chain moves on
        expected = {"slow": ("sleep-5", "timeout", 2), "busy": ("status-429", "rate_limited", 2),
                    "down": ("status-503", "server_error", 2)}
        for task, (primary, outcome, calls) in expected.items():
            before, started = stub_counts(stub), time.monotonic()
            status, body, _ = run(port, task)
            elapsed, after = time.monotonic() - started, stub_counts(stub)
            assert (status, body["output"], body["model"], body["fallback_used"]) == (200, "Greet Ada in one short "
                                                                                      "sentence.", "bench", True)
            assert [(a["model"], a["outcome"]) for a in body["attempts"]] == [(primary, outcome), ("bench", "ok")]
            assert after.get(primary, 0) - before.get(primary, 0) == calls  # a 429 or 5xx is retried first
            assert after["bench"] - before.get("bench", 0) == 1
            if task == "slow": assert 2.0 <= elapsed < 3.0, elapsed  # two 1 s timeouts, then the secondary

        before = stub_counts(stub)
        status, body, _ = run(port, "refused")
        assert (status, body["error"]["type"], body["error"]["code"]) == (422, "model_refused", "invalid_request")
        assert stub_counts(stub).get("bench", 0) == before.get("bench", 0)  # the secondary was never called

        events = sse(port, "stalled")  # silent before its first piece: the next model answers
        assert "".join(e["text"] for kind, e in events if kind == "delta") == "Greet Ada in one short sentence."
        assert [(a["model"], a["outcome"]) for a in events[-1][1]["attempts"]] == [("stall-0-5", "timeout"),
                                                                                   ("bench", "ok")]
        events = sse(port, "cut")  # silent after two pieces went out: the stream ends with the error
        assert [kind for kind, _ in events] == ["delta", "delta", "error"]
        assert events[-1][1]["error"]["type"] == "model_timeout"
        assert events[-1][1]["error"]["attempts"] == [{"model": "stall-2-5", "outcome": "timeout", "tries": 1}]
        events = sse(port, "garbled")  # a 200 that is no event stream is a fault, not an empty answer
        assert [(a["model"], a["outcome"]) for a in events[-1][1]["attempts"]] == [("malformed", "server_error"),
                                                                                   ("bench", "ok")]
        status, body, _ = run(port, "busy", max_tokens=65)  # above the cap of 64
        assert (status, body["error"]["field"]) == (422, "max_tokens")
        text = request(port, "GET", "/metrics")[1]
    sent = count_tokens("Greet Ada", "stall-2-5").n  # the two pieces that went out, counted by the service
    assert metric(text, "llm_tokens_estimated_total", task="cut", direction="output") == sent > 0
    for reason, n in (("timeout", 2), ("rate_limited", 1), ("server_error", 2)):
        assert metric(text, "llm_fallbacks_total", reason=reason) == n
    assert metric(text, "llm_fallbacks_total", reason="invalid") == 0


def test_a_hanging_model_hands_over_within_its_share_of_the_deadline(tmp_path: Path, stub):
    "With the per-try timeout far above the chain's deadline, `attempt_s` still leaves time for the next model."
    project = make_project(tmp_path, "[model]\ntimeout_s = 120\n[serve]\nmodels = openai:sleep-5, openai:bench\n"
                                     "deadline_s = 10\nattempt_s = 1\n[prices]\nsleep-5 = 0, 0\nbench = 0, 0\n")
    with serving(project, serve_env(project, stub)) as port:
        started = time.monotonic()
        status, body, _ = run(port)
        elapsed = time.monotonic() - started
    assert (status, [(a["model"], a["outcome"]) for a in body["attempts"]]) == (200, [("sleep-5", "timeout"),
                                                                                     ("bench", "ok")])
    assert 1.0 <= elapsed < 2.0, elapsed


@pytest.mark.parametrize("on_store_error", ["closed", "open"])
def test_redis_stopped_mid_run(tmp_path: Path, stub, on_store_error: str):
    port = free_port()
    redis_server = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
                                     "127.0.0.1", "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        project = make_project(tmp_path, f"[serve]\nmodels = openai:bench\n[limits]\nstore = redis\nredis_url = "
                                         f"redis://127.0.0.1:{port}/0\non_store_error = {on_store_error}\n"
                                         "[prices]\nbench = 0, 0\n")
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1): break
            time.sleep(0.05)
        with serving(project, serve_env(project, stub)) as service:
            assert run(service, caller="k1")[0] == 200
            redis_server.terminate()
            redis_server.wait(timeout=10)
            status, body, headers = run(service, caller="k1")
            text = request(service, "GET", "/metrics")[1]
        if on_store_error == "closed":
            assert (status, body["error"]["type"], headers["retry-after"]) == (503, "limits_unavailable", "1")
            assert metric(text, "llm_requests_total", status="unavailable") == 1
        else:
            assert (status, body["output"]) == (200, "Greet Ada in one short sentence.")
            assert metric(text, "llm_requests_total", status="ok") == 2
    finally:
        if redis_server.poll() is None: redis_server.terminate()
        redis_server.wait(timeout=10)


def test_metrics_add_up_across_two_workers(tmp_path: Path, stub, prefix: str):  # peer case C21
    project = make_project(tmp_path, f"[serve]\nmodels = openai:bench\n[limits]\nstore = redis\nredis_url = {REDIS}\n"
                                     f"redis_prefix = {prefix}\nrate_per_minute = 1000\n[prices]\nbench = 1, 2\n")
    shared = tmp_path / "metrics"
    shared.mkdir()
    env = serve_env(project, stub, PROMETHEUS_MULTIPROC_DIR=str(shared))
    with serving(project, env, "--workers", "2") as port:
        bodies = [{"caller": f"c{i}"} for i in range(30)] + [{"variables": {}} for _ in range(5)]
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda b: request(port, "POST", "/v1/tasks/greet/run",
                                                      {"variables": {"name": "Ada"}, **b}), bodies))
            answers += list(pool.map(lambda i: run(port, "nosuch"), range(3)))
        scrapes = [request(port, "GET", "/metrics")[1] for _ in range(6)]  # each worker answers some
        pids = {f.stem.split("_")[-1] for f in shared.glob("*.db")}
    assert [status for status, _, _ in answers].count(200) == 30
    assert len(pids) >= 2, pids
    output = sum(body["usage"]["output_tokens"] for status, body, _ in answers if status == 200)
    cost = sum(body["cost_usd"] for status, body, _ in answers if status == 200)
    for text in scrapes:  # whichever worker answered, the totals are the service's
        assert metric(text, "llm_requests_total", task="greet", status="ok") == 30
        assert metric(text, "llm_requests_total", task="greet", status="invalid") == 5
        assert metric(text, "llm_requests_total", task="other", status="invalid") == 3
        assert metric(text, "llm_tokens_total", direction="output", task="greet") == output
        assert metric(text, "llm_cost_usd_total") == pytest.approx(cost)
        assert metric(text, "llm_latency_seconds_count", task="greet") == 35


def test_streamed_and_plain_requests_count_the_same_tokens(tmp_path: Path, stub):  # peer case C14
    project = make_project(tmp_path, "[serve]\nmodels = openai:bench\n[task.quiet]\nmodels = openai:nousage\n"
                                     "[prices]\nbench = 1, 2\nnousage = 1, 2\n", ("greet", "quiet"))
    with serving(project, serve_env(project, stub)) as port:
        plain = run(port)[1]
        text = request(port, "GET", "/metrics")[1]
        streamed = sse(port, "greet")[-1][1]
        text2 = request(port, "GET", "/metrics")[1]
        quiet = sse(port, "quiet")[-1][1]
        text3 = request(port, "GET", "/metrics")[1]
    assert plain["usage"] == streamed["usage"] == {"input_tokens": 6, "output_tokens": 6, "estimated": False}
    assert plain["cost_usd"] == streamed["cost_usd"]
    for direction in ("input", "output"):
        first = metric(text, "llm_tokens_total", direction=direction, task="greet")
        assert metric(text2, "llm_tokens_total", direction=direction, task="greet") == 2 * first > 0
    assert quiet["usage"]["estimated"] and quiet["usage"]["output_tokens"] > 0  # counted, and said to be counted
    assert metric(text3, "llm_tokens_estimated_total", task="quiet", direction="output") > 0


def test_spans_are_complete_and_ended_also_when_the_client_goes_away(tmp_path: Path, stub):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    received: list = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(ExportTraceServiceRequest.FromString(body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args): pass

    collector = HTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    project = make_project(tmp_path, "[serve]\nmodels = openai:bench\n[task.slow]\nmodels = openai:drip-0.3\n"
                                     "[prices]\nbench = 0, 0\ndrip-0.3 = 0, 0\n", ("greet", "slow"))
    env = serve_env(project, stub, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.server_port}")
    try:
        with serving(project, env) as port:
            assert run(port, caller="k1")[0] == 200
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("POST", "/v1/tasks/slow/run", json.dumps({"variables": {"name": "Ada"},
                                                                         "stream": True}).encode(),
                               {"Content-Type": "application/json"})
            response = connection.getresponse()
            assert response.readline().startswith(b"event: delta")  # the first piece, then the client goes away
            connection.sock.shutdown(socket.SHUT_RDWR)
            connection.close()
            time.sleep(1.5)
    finally:
        collector.shutdown()
        collector.server_close()

    spans = [s for r in received for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert all(s.end_time_unix_nano >= s.start_time_unix_nano > 0 for s in spans)
    traces: dict[bytes, list] = {}
    for s in spans: traces.setdefault(s.trace_id, []).append(s)
    by_root = {next(s.name for s in t if s.name.startswith("run_task")): t for t in traces.values()}
    assert sorted(s.name for s in by_root["run_task greet"]) == ["chat bench", "guard toxicity", "render greet",
                                                                 "run_task greet"]
    assert sorted(s.name for s in by_root["run_task slow"]) == ["chat drip-0.3", "render slow", "run_task slow"]
    for trace in by_root.values():
        root = next(s for s in trace if s.name.startswith("run_task"))
        assert all(s.parent_span_id == root.span_id for s in trace if s is not root)
    attributes = {s.name: {a.key: a.value for a in s.attributes} for t in by_root.values() for s in t}
    assert attributes["run_task slow"]["llmops_wb.status"].string_value == "cancelled"
    assert attributes["chat bench"]["gen_ai.request.model"].string_value == "bench"
    assert attributes["chat bench"]["gen_ai.usage.output_tokens"].int_value == 6
    assert not any("Ada" in str(v) for a in attributes.values() for v in a.values())  # no user text without capture


def test_bad_requests_over_http(tmp_path: Path, stub):
    project = make_project(tmp_path, "[serve]\nmodels = openai:bench\nmax_body_bytes = 2048\n[prices]\nbench = 0, 0\n")
    with serving(project, serve_env(project, stub)) as port:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        chunks = (b'{"variables": {"name": "' + b"x" * 1000, b"y" * 1000, b"z" * 1000 + b'"}}')
        connection.request("POST", "/v1/tasks/greet/run", iter(chunks), {"Content-Type": "application/json"},
                           encode_chunked=True)
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())["error"]["type"]) == (413, "body_too_large")
        connection.close()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("POST", "/v1/tasks/greet/run", b'{"variables": ', {"Content-Type": "application/json"})
        response = connection.getresponse()
        error = json.loads(response.read())["error"]
        connection.close()
        assert (response.status, error["type"], error["field"]) == (400, "invalid_json", "body")
        status, body, _ = run(port, max_tokens=10_000)
        assert (status, body["error"]["field"]) == (422, "max_tokens")
        assert run(port)[0] == 200  # the service is fine afterwards


@pytest.mark.parametrize("settings,message", [
    ("[serve]\nworkers = 0\n", "settings.ini [serve] workers: '0' is not valid: expected a value from 1 to 64"),
    ("[serve]\nworkers = 2\n", "2 workers need a shared limits store"),
    ("[task.greet]\nmust_match = (\n", "[task.greet] must_match: '(' is not valid: expected a regular expression"),
    ("[limits]\non_store_error = maybe\n", "expected one of: closed, open"),
    ("[serve]\nattempt_s = 60\n", "[serve] attempt_s 60 is not below deadline_s 60"),
])
def test_settings_that_do_not_parse_stop_the_start(tmp_path: Path, settings: str, message: str):
    project = make_project(tmp_path, settings + "[prices]\nfake = 0, 0\n")
    env = serve_env(project, LLMOPS_WB_MODEL_DEFAULT="fake")
    done = subprocess.run([str(BIN / "llmops-wb"), "serve", "--port", str(free_port())], cwd=project, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
