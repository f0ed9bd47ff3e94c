"""Enqueue and claim-and-decide throughput of the review queue on SQLite (WAL, synchronous=FULL) and PostgreSQL.

One process, one connection, one committed statement per call, as the service and a reviewer use it.

    python bench/review_queue.py [--n 2000]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path

from llmops_wb.review import ReviewStore

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def rates(store: ReviewStore, n: int) -> dict:
    "Items enqueued per second, then items claimed and decided per second."
    started = time.perf_counter()
    for i in range(n): store.enqueue("summarize", "v1.1.0", "fake", {"text": f"case {i}"}, f"out {i}", 0.5)
    enqueue = n / (time.perf_counter() - started)
    started = time.perf_counter()
    while (item := store.claim("bench", lease_s=600)) is not None: store.decide(item.id, "bench", "approve")
    decide = n / (time.perf_counter() - started)
    return {"enqueue_per_s": round(enqueue), "claim_and_decide_per_s": round(decide)}


def main(n: int = 2000) -> dict:
    import psycopg
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        store = ReviewStore(Path(folder) / "review.db")
        results["sqlite"] = rates(store, n)
        store.close()
    schema = f"bench_review_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin: admin.execute(f"CREATE SCHEMA {schema}")
    try:
        store = ReviewStore(f"{POSTGRES}?options=-csearch_path%3D{schema}")
        results["postgresql"] = rates(store, n)
        store.close()
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as admin: admin.execute(f"DROP SCHEMA {schema} CASCADE")
    for name, r in results.items():
        print(f"{name:11} enqueue {r['enqueue_per_s']:6}/s   claim and decide {r['claim_and_decide_per_s']:6}/s")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    print(json.dumps(main(parser.parse_args().n)))
