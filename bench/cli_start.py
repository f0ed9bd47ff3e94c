"""Start time of `llmops-wb --help`, against a bare Python start and against importing the heavy libraries the CLI
defers (mlflow, sentence-transformers, llama_cpp).

    python bench/cli_start.py [--runs 10]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def timed(command: list[str], runs: int, env: dict | None = None) -> float:
    "The median wall time of `command` over `runs` runs (in the environment `env`), in seconds."
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(runs: int = 10) -> dict:
    python = timed([sys.executable, "-c", "pass"], runs)
    help_ = timed([str(BIN / "llmops-wb"), "--help"], runs)
    heavy = timed([sys.executable, "-c", "import mlflow, sentence_transformers, llama_cpp"], max(2, runs // 4))
    result = {"python_s": python, "help_s": help_, "heavy_imports_s": heavy, "help_over_python": help_ / python}
    print(f"llmops-wb --help: {help_ * 1000:.0f} ms (bare python {python * 1000:.0f} ms, ratio {help_ / python:.2f}); "
          f"the imports it defers would add {heavy:.1f} s")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    main(**vars(parser.parse_args()))
