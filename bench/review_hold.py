"""What holding an output for review adds to a request's latency, over real HTTP.

`llmops-wb serve` (one worker) answers one task from the OpenAI-compatible stub (1 ms delay), one request at a time
on a keep-alive connection, in four set-ups: review off; review on with a sure answer (the model's log-probabilities
are asked for and scored, nothing is queued); every answer held in the SQLite queue; every answer held in PostgreSQL.
The figures are the median and 99th percentile of the request's latency and what each adds to the median of the first.

    python bench/review_hold.py [--n 1000]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from stub_openai import serve as serve_stub  # noqa: E402

BIN = Path(sys.executable).parent
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def latencies(settings: str, stub_port: int, n: int) -> list[float]:
    "Seconds per request of `n` sequential requests to a service with `settings`, after 100 to warm up."
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        (project / "prompts/greet").mkdir(parents=True)
        (project / "prompts/greet/v1.0.0.txt").write_text("# v1.0.0\nGreet {name} in one short sentence.\n")
        (project / "settings.ini").write_text(settings)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLMOPS_WB_", "OTEL_"))}
        env.update(PROMPT_VERSION="greet@v1.0.0", OPENAI_API_KEY="stub",
                   OPENAI_BASE_URL=f"http://127.0.0.1:{stub_port}/v1")
        port = free_port()
        process = subprocess.Popen([str(BIN / "llmops-wb"), "serve", "--port", str(port)], cwd=project, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            deadline = time.monotonic() + 60
            while True:
                try:
                    connection.request("GET", "/readyz")
                    response = connection.getresponse()
                    response.read()
                    if response.status == 200: break
                except OSError: connection.close()
                if time.monotonic() > deadline: raise RuntimeError("the service did not become ready")
                time.sleep(0.1)
            body = json.dumps({"variables": {"name": "Ada"}, "caller": "bench"}).encode()
            seconds = []
            for i in range(n + 100):
                started = time.perf_counter()
                connection.request("POST", "/v1/tasks/greet/run", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                if response.status not in (200, 202): raise RuntimeError(f"HTTP {response.status}")
                if i >= 100: seconds.append(time.perf_counter() - started)
            connection.close()
            return seconds
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(n: int = 1000) -> dict:
    import psycopg
    stub = serve_stub(0, delay_s=0.001)
    schema = f"bench_hold_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin: admin.execute(f"CREATE SCHEMA {schema}")
    limits = "[limits]\nrate_per_minute = 1000000\n"
    setups = {
        "review off": ("bench", "off", ".llmops_wb/review.db"),
        "scored, not held": ("bench", "hold", ".llmops_wb/review.db"),
        "held, SQLite": ("unsure-1.5", "hold", ".llmops_wb/review.db"),
        "held, PostgreSQL": ("unsure-1.5", "hold", f"{POSTGRES}?options=-csearch_path%3D{schema}"),
    }
    results = {}
    try:
        for name, (model, mode, store) in setups.items():
            settings = (f"[serve]\nmodels = openai:{model}\n{limits}[task.greet]\nreview = {mode}\n"
                        f"[review]\nstore = {store}\n[prices]\n{model} = 0, 0\n")
            seconds = latencies(settings, stub.server_port, n)
            results[name] = {"p50_ms": round(percentile(seconds, 0.5) * 1000, 2),
                             "p99_ms": round(percentile(seconds, 0.99) * 1000, 2)}
    finally:
        stub.shutdown()
        with psycopg.connect(POSTGRES, autocommit=True) as admin: admin.execute(f"DROP SCHEMA {schema} CASCADE")
    base = results["review off"]["p50_ms"]
    for figures in results.values(): figures["added_p50_ms"] = round(figures["p50_ms"] - base, 2)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    print(json.dumps(main(parser.parse_args().n), indent=2))
