"""Holding and marking low-confidence outputs over real HTTP: `llmops-wb serve` against the stub model, the review
queue in SQLite or PostgreSQL, decisions made with the CLI, polled by the caller and posted to its callback."""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import BIN
from llmops_wb.confidence import SMOLLM2_ANSWERS
from test_review import OPENED, opened, target  # noqa: F401 (the fixture of a SQLite or a PostgreSQL queue)
from test_serve import free_port, make_project, request, run, serve_env, serving


class Receiver(BaseHTTPRequestHandler):
    "A caller's callback endpoint: it records each decision posted, and fails the first post of each review."
    posts: list[dict] = []
    seen: set[str] = set()

    def log_message(self, *args): pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Receiver.posts.append({"header": self.headers.get("X-Review-Id"), **body})
        first = body["review_id"] not in Receiver.seen
        Receiver.seen.add(body["review_id"])
        self.send_response(500 if first else 204)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def receiver():
    Receiver.posts, Receiver.seen = [], set()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def cli(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLMOPS_WB_"))}
    return subprocess.run([str(BIN / "llmops-wb"), *args], cwd=project, env=env, capture_output=True, text=True,
                          timeout=120)


def settings_for(store: str, mode: str, model: str = "unsure-1.5", extra: str = "") -> str:
    return (f"[serve]\nmodels = openai:{model}\n[task.greet]\nreview = {mode}\n[review]\nstore = {store}\n{extra}"
            f"[prices]\n{model} = 0, 0\n")


def test_a_held_output_waits_for_its_decision(tmp_path: Path, stub, target: str, receiver):  # noqa: F811
    "Held: 202 and a status URL; the CLI decides; the poll and the callback (after one failed post) say so."
    hook = f"http://127.0.0.1:{receiver.server_port}/decisions"
    project = make_project(tmp_path, settings_for(target, "hold", extra="callback_hosts = 127.0.0.1\n"))
    with serving(project, serve_env(project, stub)) as port:
        status, held, headers = run(port, caller="c1", callback_url=hook)
        assert (status, held["status"], held["output"]) == (202, "held", None)
        assert headers["location"] == held["review"]["status_url"] == f"/v1/reviews/{held['review_id']}"
        # every word at log-probability -1.5, discounted by the content filter's toxicity score
        toxicity = next(g["score"] for g in held["guards"] if g["guard"] == "toxicity")
        assert held["confidence"] == pytest.approx(SMOLLM2_ANSWERS.probability([-1.5]) * (1 - toxicity), abs=1e-4)
        assert held["confidence_source"] == "tokens"
        assert request(port, "GET", headers["location"])[1]["status"] == "pending"

        shown = json.loads(cli(project, "review", "show", held["review_id"][:8]).stdout)
        assert (shown["input"], shown["output"], shown["request_id"]) == \
            ({"name": "Ada"}, "Greet Ada in one short sentence.", held["id"])
        decided = cli(project, "review", "edit", held["review_id"][:8], "--reviewer", "ana", "--text", "Hello, Ada!")
        assert decided.returncode == 0, decided.stderr
        polled = request(port, "GET", headers["location"])[1]
        assert (polled["status"], polled["output"], polled["request_id"]) == ("edited", "Hello, Ada!", held["id"])

        deadline = time.monotonic() + 20  # the first post fails; the next comes 2 s later
        while len(Receiver.posts) < 2 and time.monotonic() < deadline: time.sleep(0.2)
        assert [(p["header"], p["status"], p["output"]) for p in Receiver.posts] == \
            [(held["review_id"], "edited", "Hello, Ada!")] * 2
        time.sleep(2.5)
        assert len(Receiver.posts) == 2  # delivered: not posted again

        stream = request(port, "POST", "/v1/tasks/greet/run", {"variables": {"name": "Ada"}, "stream": True})
        assert (stream[0], stream[1]["error"]["field"]) == (422, "stream")
        elsewhere = run(port, callback_url="http://169.254.169.254/latest/meta-data")
        assert (elsewhere[0], elsewhere[1]["error"]["field"]) == (422, "callback_url")
        assert request(port, "GET", "/v1/reviews/" + "f" * 32)[0] == 404


def test_a_sure_output_is_not_held(tmp_path: Path, stub):
    project = make_project(tmp_path, settings_for(str(tmp_path / "review.db"), "hold", model="bench"))
    with serving(project, serve_env(project, stub)) as port:
        status, answer, _ = run(port)
        assert (status, answer["status"], answer["output"], answer["review_id"]) == \
            (200, "ok", "Greet Ada in one short sentence.", None)
        assert answer["confidence"] > 0.9
    assert cli(project, "review", "list").stdout.count("\n") == 1  # the header alone


def test_a_marked_output_goes_out_pending_review(tmp_path: Path, stub):
    project = make_project(tmp_path, settings_for(str(tmp_path / "review.db"), "mark"))
    with serving(project, serve_env(project, stub)) as port:
        status, answer, _ = run(port)
        assert (status, answer["status"], answer["output"]) == \
            (200, "pending_review", "Greet Ada in one short sentence.")
        events = request(port, "POST", "/v1/tasks/greet/run", {"variables": {"name": "Bo"}, "stream": True})[1]
        done = json.loads(events.strip().split("\n\n")[-1].split("data: ", 1)[1])
        assert (done["status"], done["output"]) == ("pending_review", "Greet Bo in one short sentence.")
        metrics = request(port, "GET", "/metrics")[1]
        assert 'llm_review_queued_total{mode="mark",prompt_version="v1.0.0",task="greet"} 2.0' in metrics
    listed = cli(project, "review", "list", "--status", "pending").stdout.splitlines()[1:]
    assert [line.split()[1] for line in listed] == ["greet", "greet"]


def test_a_queue_that_cannot_be_opened_stops_the_start(tmp_path: Path, stub):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for store in (f"{blocker}/review.db", "postgresql://reviewer:secret@127.0.0.1:1/none"):
        project = make_project(tmp_path / str(abs(hash(store))), settings_for(store, "hold"))
        started = subprocess.run([str(BIN / "llmops-wb"), "serve", "--port", str(free_port())], cwd=project,
                                 env=serve_env(project, stub), capture_output=True, text=True, timeout=60)
        assert started.returncode == 2 and "[review] store" in started.stderr, started.stderr
        assert "Traceback" not in started.stderr and "secret" not in started.stderr
