"""The workload of bench/runner_stub.py (N cases at concurrency C against the OpenAI-compatible stub with a fixed
delay) through the workbench's runner and through `mlflow.genai.evaluate`, side by side in one process, each run
`--repeat` times; prints every time and the ratios MLflow / ours (untracked, and tracked in MLflow).

Both sides get the same prompts, parameters and concurrency, and no rate limit; stores are fresh SQLite files in a
temp folder, made before the clock starts; imports are warmed first; MLflow's telemetry is off and any connection
beyond loopback is refused.

    python bench/genai_side_by_side.py [--rows 1000] [--repeat 2] [--concurrency 32] [--delay 0.2]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from runner_stub import make_project, start_stub  # noqa: E402

from llmops_wb.config import SCHEMA, load_settings  # noqa: E402
from llmops_wb.evaluate import plan_from_settings, run_plan, run_sync  # noqa: E402
from llmops_wb.scoring import HashEmbedder  # noqa: E402
from llmops_wb.tracking import mlflow_client, track_eval  # noqa: E402

LOOPBACK = {"127.0.0.1", "::1", "localhost", b"127.0.0.1", b"localhost"}
refused: list[str] = []
hooked: list = []


def loopback_only(event: str, args: tuple) -> None:
    "An audit hook that refuses (and notes) every lookup or connection to a host other than loopback."
    if event == "socket.getaddrinfo" and args[0] is not None and args[0] not in LOOPBACK: host = args[0]
    elif (event == "socket.connect" and args[0].family in (socket.AF_INET, socket.AF_INET6)
          and args[1][0] not in LOOPBACK): host = args[1][0]
    else: return
    refused.append(f"{event} {host!r}")
    raise ConnectionRefusedError(f"benchmark is offline: {event} to {host!r} refused")


@contextmanager
def environ(**values: str):
    "Set environment variables for the block, then restore them."
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try: yield
    finally:
        for k, v in old.items():
            if v is None: os.environ.pop(k, None)
            else: os.environ[k] = v


def stub_calls(port: int) -> int:
    "The number of chat completions the stub has answered so far."
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats") as r: return sum(json.load(r).values())


def timed(fn) -> tuple[float, float]:
    "Run `fn`; returns its (wall seconds, CPU seconds of this process)."
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def ours(folder: Path, concurrency: int, store: Path | None) -> tuple[float, float, dict]:
    "One run of the workbench's runner, untracked, or tracked in a fresh SQLite store under `store`."
    flags = {"evaluate.concurrency": concurrency}
    if "cache" in SCHEMA["evaluate"]: flags["evaluate.cache"] = False  # a repeat must call the model, not the cache
    if store: flags |= {"tracking.uri": f"sqlite:///{store}/mlflow.db",
                        "tracking.artifacts": str(store / "mlartifacts")}
    settings = load_settings(folder, flags=flags)
    plan = plan_from_settings("echo@v1.0.0", model="openai:stub", settings=settings, embedder=HashEmbedder())
    if store: mlflow_client(settings)  # make the store (schema migrations) before the clock starts
    result = {}
    def run():
        result["r"] = (track_eval(plan, settings, progress=False).result if store
                       else run_sync(run_plan(plan, progress=False)))
    times = timed(run)
    assert result["r"].summary["errored"] == 0 and not result["r"].summary.get("cached"), result["r"].summary
    return *times, {}


def with_mlflow(folder: Path, port: int, store: Path) -> tuple[float, float, dict]:
    """One `mlflow.genai.evaluate` of the same cases with the same prompt and parameters, in a fresh SQLite store;
    returns its wall and CPU seconds and what the store holds afterwards: traces, traces with spans, scored traces."""
    import mlflow
    from mlflow.genai.scorers import scorer
    from openai import OpenAI

    plan = plan_from_settings("echo@v1.0.0", model="openai:stub", settings=load_settings(folder),
                              embedder=HashEmbedder())
    data = [{"inputs": {"text": case.input["text"]}, "expectations": {"expected_response": case.expected}}
            for case in plan.dataset.cases]
    client = OpenAI(api_key="not-needed", base_url=f"http://127.0.0.1:{port}/v1", timeout=120, max_retries=0)

    def predict(text: str) -> str:
        r = client.chat.completions.create(model="stub", max_tokens=plan.max_tokens, temperature=plan.temperature,
                                           seed=plan.seed,
                                           messages=[{"role": "user", "content": plan.prompt.render({"text": text})}])
        return r.choices[0].message.content

    @scorer
    def non_empty(outputs) -> bool:
        return bool(outputs)

    mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
    exp = mlflow.create_experiment("genai_side_by_side", artifact_location=(store / "mlartifacts").as_uri())
    mlflow.set_experiment(experiment_id=exp)  # the store exists before the clock starts, as on our side
    before, result = stub_calls(port), {}
    times = timed(lambda: result.update(r=mlflow.genai.evaluate(data=data, predict_fn=predict, scorers=[non_empty])))
    client.close()
    calls = stub_calls(port) - before
    # every row answered and scored; MLflow calls predict_fn once more on the first row to check it traces
    assert result["r"].metrics.get("non_empty/mean") == 1.0 and calls >= len(data), (result["r"].metrics, calls)
    traces = mlflow.search_traces(locations=[exp], max_results=2 * len(data), return_type="list")
    kept = {"traces": len(traces), "with_spans": sum(bool(t.data.spans) for t in traces),
            "scored": sum(any(a.name == "non_empty" for a in t.info.assessments) for t in traces)}
    return *times, kept


def main(rows: int = 1000, repeat: int = 2, concurrency: int = 32, delay: float = 0.2,
         mlflow_rate_limit: str = "0") -> dict:
    if loopback_only not in hooked: sys.addaudithook(loopback_only)  # a hook stays for the process's life
    hooked.append(loopback_only)
    stub, port = start_stub(delay)
    os.environ["OPENAI_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
    folder = Path(tempfile.mkdtemp())
    make_project(folder, rows)
    ideal = rows * delay / concurrency
    # MLFLOW_GENAI_EVAL_MAX_WORKERS sizes both thread pools of mlflow.genai.evaluate, predict and score
    # (mlflow/environment_variables.py; mlflow/genai/evaluation/harness.py `_get_pool_sizes`, default 10).
    # MLFLOW_GENAI_EVAL_PREDICT_RATE_LIMIT defaults to "auto": an adaptive limit starting at 10 calls/s
    # (harness.py AUTO_INITIAL_RPS) with a ceiling of twice that; "0" turns it off, as our runner has none.
    env = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
           "MLFLOW_GENAI_EVAL_MAX_WORKERS": str(concurrency), "MLFLOW_GENAI_EVAL_PREDICT_RATE_LIMIT": mlflow_rate_limit}
    times = {"untracked": [], "tracked": [], "mlflow": []}
    cpu, kept = {name: [] for name in times}, []
    try:
        with environ(**env):
            import mlflow.genai  # noqa: F401  (imports before the clock starts, on both sides)
            import openai  # noqa: F401
            for _ in range(repeat):
                for name in times:
                    store = Path(tempfile.mkdtemp())
                    wall, cpu_s, store_holds = (with_mlflow(folder, port, store) if name == "mlflow"
                                                else ours(folder, concurrency, store if name == "tracked" else None))
                    times[name].append(wall)
                    cpu[name].append(cpu_s)
                    if name == "mlflow": kept.append(store_holds)
                    print(f"  {name}: {wall:.2f} s (CPU {cpu_s:.2f} s) {store_holds or ''}", flush=True)
    finally:
        stub.terminate()
        stub.wait()
    med = {name: statistics.median(t) for name, t in times.items()}
    out = {"rows": rows, "concurrency": concurrency, "delay_s": delay, "ideal_s": ideal,
           "mlflow_rate_limit": mlflow_rate_limit, **{f"{k}_s": v for k, v in times.items()},
           **{f"{k}_cpu_s": v for k, v in cpu.items()},
           "mlflow_over_untracked": med["mlflow"] / med["untracked"],
           "mlflow_over_tracked": med["mlflow"] / med["tracked"],
           "untracked_throughput_of_limit": ideal / med["untracked"], "mlflow_store_holds": kept,
           "refused_connections": refused}
    labels = {"untracked": "workbench runner, untracked", "tracked": "workbench runner, tracked in MLflow",
              "mlflow": "mlflow.genai.evaluate"}
    print(f"side by side: {rows} cases, concurrency {concurrency}, stub delay {delay}s, ideal {ideal:.2f}s")
    for name, label in labels.items():
        print(f"  {label:36s} {', '.join(f'{t:.2f}' for t in times[name])} s (median {med[name]:.2f} s, "
              f"x{med[name] / ideal:.2f} ideal; CPU {', '.join(f'{c:.2f}' for c in cpu[name])} s)")
    print(f"  MLflow's store afterwards, of {rows} rows: " + "; ".join(
        f"{k['traces']} traces, {k['with_spans']} with spans, {k['scored']} scored" for k in kept))
    print(f"  mlflow / ours untracked = {out['mlflow_over_untracked']:.2f}, "
          f"mlflow / ours tracked = {out['mlflow_over_tracked']:.2f} (medians); "
          f"connections refused: {len(refused)}")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--mlflow-rate-limit", default="0",
                        help='MLFLOW_GENAI_EVAL_PREDICT_RATE_LIMIT: "0" off (default), "auto" (MLflow\'s default), '
                             "or calls per second")
    main(**vars(parser.parse_args()))
