"""The runner's own cost (peer case C22): N cases at concurrency C against the OpenAI-compatible stub with a fixed
delay. Throughput is reported as a fraction of the limit, concurrency / delay calls per second (the ideal time
N x delay / C over the time taken); the goal is at least 0.9. Then the same run tracked in a throwaway MLflow SQLite
store. The response cache is off: every call reaches the stub. The OpenAI SDK is imported before the clock starts.

    python bench/runner_stub.py [--cases 1000] [--concurrency 32] [--delay 0.2]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from llmops_wb.config import load_settings
from llmops_wb.evaluate import plan_from_settings, run_plan, run_sync
from llmops_wb.scoring import HashEmbedder
from llmops_wb.tracking import mlflow_client, track_eval


def start_stub(delay: float) -> tuple[subprocess.Popen, int]:
    "The stub in its own process, so its work does not count against the runner; returns it and its port."
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    stub = subprocess.Popen([sys.executable, str(Path(__file__).parent / "stub_openai.py"), "--port", str(port),
                             "--delay", str(delay)], stdout=subprocess.PIPE, text=True)
    stub.stdout.readline()  # "stub on ..." once it listens
    return stub, port


def make_project(folder: Path, cases: int) -> None:
    (folder / "prompts/echo").mkdir(parents=True)
    (folder / "prompts/echo/v1.0.0.txt").write_text("# v1.0.0\nRepeat this.\n\n{text}\n")
    (folder / "datasets").mkdir()
    with open(folder / "datasets/echo.jsonl", "w") as f:
        for i in range(cases):
            f.write(json.dumps({"id": f"c{i}", "input": {"text": f"case {i} says hello"}, "expected": "hello"}) + "\n")
    (folder / "settings.ini").write_text("[prices]\nstub = 1.0, 2.0\n")


def main(cases: int = 1000, concurrency: int = 32, delay: float = 0.2) -> dict:
    stub, port = start_stub(delay)
    os.environ["OPENAI_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
    folder = Path(tempfile.mkdtemp())
    make_project(folder, cases)
    settings = load_settings(folder, flags={"evaluate.concurrency": concurrency})
    ideal = cases * delay / concurrency
    import openai  # noqa: F401  (the SDK loads on the first call; its import is not the runner's throughput)
    timings = {}
    mlflow_client(settings)  # the store exists (schema made) before the clock starts, as in genai_side_by_side.py
    for name in ("untracked", "tracked"):
        plan = plan_from_settings("echo@v1.0.0", model="openai:stub", settings=settings, embedder=HashEmbedder(),
                                  cache=False)
        start = time.perf_counter()
        result = (track_eval(plan, settings, progress=False).result if name == "tracked"
                  else run_sync(run_plan(plan, progress=False)))
        timings[name] = time.perf_counter() - start
        assert result.summary["errored"] == 0, result.summary
    stub.terminate()
    stub.wait()
    out = {"ideal_s": ideal, **{f"{k}_s": v for k, v in timings.items()},
           "untracked_throughput_of_limit": ideal / timings["untracked"],
           "tracked_throughput_of_limit": ideal / timings["tracked"]}
    print(f"runner: {cases} cases, concurrency {concurrency}, stub delay {delay}s: ideal {ideal:.2f}s; "
          f"untracked {timings['untracked']:.2f}s ({out['untracked_throughput_of_limit']:.2f} of the limit), "
          f"tracked in MLflow {timings['tracked']:.2f}s ({out['tracked_throughput_of_limit']:.2f} of the limit)")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--delay", type=float, default=0.2)
    main(**vars(parser.parse_args()))
