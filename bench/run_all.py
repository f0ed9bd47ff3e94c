"""Run every benchmark once, in one process tree, and print the ratios; results go to bench/results/latest.json."""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import cli_start  # noqa: E402
import local_overhead  # noqa: E402
import release  # noqa: E402
import review_hold  # noqa: E402
import review_queue  # noqa: E402
import runner_stub  # noqa: E402
import scorer  # noqa: E402
import serve_overhead  # noqa: E402

results = {"cli_start": cli_start.main(), "runner_stub": runner_stub.main(), "scorer": scorer.main(),
           "local_overhead": local_overhead.main(), "release": release.main(), "serve_overhead": serve_overhead.main(),
           "review_queue": review_queue.main(), "review_hold": review_hold.main()}
out = Path(__file__).parent / "results"
out.mkdir(exist_ok=True)
(out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
