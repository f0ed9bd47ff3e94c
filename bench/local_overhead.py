"""Tokens per second of the local model through the workbench's runner, against llama-cpp-python called directly on
the same prompts with the same loaded weights, from the main thread and from a worker thread (the runner calls
llama.cpp from a worker thread, and on this machine the thread alone changes the speed). Rounds rotate which goes
first, so drift and load hit all alike.

    python bench/local_overhead.py [--cases 12] [--rounds 3]
"""
from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor

from llmops_wb.config import load_settings
from llmops_wb.evaluate import call_all, plan_from_settings, run_sync
from llmops_wb.scoring import HashEmbedder


def direct(llama, prompts: list[str], max_tokens: int, seed: int) -> tuple[int, float]:
    "Generate every prompt with llama-cpp-python itself; returns (output tokens, seconds)."
    tokens, start = 0, time.perf_counter()
    for prompt in prompts:
        llama.reset()  # a fresh context per call, as the provider does (reused state scored and ran differently)
        out = llama.create_chat_completion(messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens,
                                           temperature=0.0, seed=seed)
        tokens += out["usage"]["completion_tokens"]
    return tokens, time.perf_counter() - start


def workbench(plan) -> tuple[int, float]:
    "Generate every case through the runner (provider, concurrency gate, records); returns (output tokens, seconds)."
    start = time.perf_counter()
    records = run_sync(call_all(plan, progress=False))
    return sum(r.output_tokens for r in records), time.perf_counter() - start


def main(cases: int = 12, rounds: int = 4) -> dict:
    settings = load_settings(environ={**os.environ, "LLMOPS_WB_EVALUATE_CACHE": "false"})  # every round calls the model
    plan = plan_from_settings("explain@v1.1.0", model="local", settings=settings, embedder=HashEmbedder(), limit=cases)
    llama = plan.provider.load()
    direct(llama, plan.rendered[:1], 8, plan.seed)  # warm up
    pool = ThreadPoolExecutor(1)
    runs = {"direct": lambda: direct(llama, plan.rendered, plan.max_tokens, plan.seed),
            "direct_thread": lambda: pool.submit(direct, llama, plan.rendered, plan.max_tokens, plan.seed).result(),
            "workbench": lambda: workbench(plan)}
    totals = {name: [0, 0.0] for name in runs}
    order = list(runs)
    for round_ in range(rounds):
        for name in order[round_ % 3:] + order[:round_ % 3]:
            tokens, seconds = runs[name]()
            totals[name][0] += tokens
            totals[name][1] += seconds
    pool.shutdown()
    rate = {name: tokens / seconds for name, (tokens, seconds) in totals.items()}
    result = {f"{name}_tok_s": r for name, r in rate.items()}
    result.update(workbench_over_direct_thread=rate["workbench"] / rate["direct_thread"],
                  workbench_over_direct=rate["workbench"] / rate["direct"],
                  same_tokens=len({tokens for tokens, _ in totals.values()}) == 1)
    print(f"local model, {cases} prompts x {rounds} rounds: llama.cpp direct {rate['direct']:.1f} tok/s (main thread), "
          f"{rate['direct_thread']:.1f} tok/s (worker thread); workbench {rate['workbench']:.1f} tok/s; "
          f"workbench / direct in a worker thread = {result['workbench_over_direct_thread']:.3f} "
          f"(same output tokens: {result['same_tokens']})")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=4)
    main(**vars(parser.parse_args()))
