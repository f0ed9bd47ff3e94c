"""What a release move costs: `promote` and `rollback` (sync, gate check, lock, stage move, history record, run
tags) against the bare MLflow calls that make the same blue-green switch, on one SQLite store; and the command
line's wall time for a promotion and for `deploy render`.

    python bench/release.py [--moves 20]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from cli_start import timed  # noqa: E402

BIN = Path(sys.executable).parent


def project() -> Path:
    "A throwaway project with two versions of `greet`, both passing the gate on the fake model."
    from llmops_wb.config import load_settings
    from llmops_wb.gate import report_eval
    from llmops_wb.scoring import HashEmbedder
    root = Path(tempfile.mkdtemp(prefix="bench-release-"))
    (root / "prompts/greet").mkdir(parents=True)
    for version, text in (("v1.0.0", "Say hello to {name}."), ("v1.1.0", "Say hello to {name}!")):
        (root / f"prompts/greet/{version}.txt").write_text(f"# {version}\n{text}\n")
    (root / "datasets").mkdir()
    with open(root / "datasets/greet.jsonl", "w") as f:
        for i in range(20):
            f.write(json.dumps({"id": f"c{i}", "input": {"name": f"N{i}"}, "expected": f"Say hello to N{i}."}) + "\n")
    (root / "settings.ini").write_text("[model]\ndefault = fake\n[prices]\nfake = 0, 0\n")
    settings = load_settings(root, environ={})
    for version in ("v1.0.0", "v1.1.0"):
        report_eval("greet", version, baseline="none", settings=settings, embedder=HashEmbedder())
    return root


def median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000


def moves(root: Path, n: int) -> dict:
    "Median wall time of one move through `release`, and of the bare MLflow calls for the same switch."
    from llmops_wb.config import load_settings
    from llmops_wb.registry import registered
    from llmops_wb.release import promote, rollback
    from llmops_wb.tracking import mlflow_client
    settings = load_settings(root, environ={})
    promote(settings, "greet@v1.0.0", "production")
    promote(settings, "greet@v1.1.0", "production")
    ours = []
    for _ in range(n):
        start = time.perf_counter()
        rollback(settings, "greet")
        ours.append(time.perf_counter() - start)
    client = mlflow_client(settings)
    numbers = {v: r.number for v, r in registered(client, "greet").items()}
    bare, production = [], "v1.0.0" if n % 2 else "v1.1.0"
    for _ in range(n):
        other = "v1.1.0" if production == "v1.0.0" else "v1.0.0"
        start = time.perf_counter()
        client.set_prompt_alias("greet", "previous", numbers[production])
        client.set_prompt_alias("greet", "production", numbers[other])
        client.set_prompt_tag("greet", "llmops_wb.colour", f"blue@{other}")
        bare.append(time.perf_counter() - start)
        production = other
    return {"move_ms": median_ms(ours), "bare_mlflow_ms": median_ms(bare),
            "move_over_bare": statistics.median(ours) / statistics.median(bare)}


def commands(root: Path, runs: int = 5) -> dict:
    "Median wall time of `llmops-wb rollback` and `llmops-wb deploy render` as processes, and of `--help`."
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLMOPS_WB_"))}
    def ms(*args: str) -> float: return timed([str(BIN / "llmops-wb"), "-C", str(root), *args], runs, env) * 1000
    return {"help_ms": ms("--help"), "rollback_ms": ms("rollback", "greet"), "deploy_render_ms": ms("deploy", "render")}


def main(n: int = 20) -> dict:
    root = project()
    result = {**moves(root, n), **commands(root)}
    print(f"one release move (rollback: lock, stage check, alias moves, history run, run tags): "
          f"{result['move_ms']:.0f} ms; the bare MLflow calls for the same switch: {result['bare_mlflow_ms']:.0f} ms "
          f"(x{result['move_over_bare']:.1f})")
    print(f"as commands: llmops-wb rollback {result['rollback_ms']:.0f} ms, deploy render "
          f"{result['deploy_render_ms']:.0f} ms, --help {result['help_ms']:.0f} ms")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moves", type=int, default=20)
    main(parser.parse_args().moves)
