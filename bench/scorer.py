"""The scorer's throughput (all-MiniLM-L6-v2 through the workbench's `score_outputs`: similarity, relevance,
coherence, hallucination), with and without the embedding cache:

- no cache: every output, reference, input and sentence embedded;
- references cached: a new run of changed outputs, whose references and inputs are in the cache (the usual case);
- all cached: an unchanged re-run, every text in the cache;

and sentence-transformers' own `encode` of the same distinct texts, as the yardstick.

    python bench/scorer.py [--repeat 2]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from llmops_wb.config import load_settings
from llmops_wb.datasets import load_dataset
from llmops_wb.evaluate import case_text
from llmops_wb.scoring import CachedEmbedder, MiniLMEmbedder, score_outputs, sentences


def main(repeat: int = 2) -> dict:
    settings = load_settings()
    cases = [c for task in ("summarize", "explain")
             for c in load_dataset(settings.path("project.datasets_dir") / f"{task}.jsonl").cases]
    references = [c.expected for c in cases] * repeat
    inputs = [case_text(c) for c in cases] * repeat
    # stand-in outputs: each reference with a sample marker, so every output is a distinct text
    outputs = [f"{r} (sample {i // len(cases)})" for i, r in enumerate(references)]
    new_outputs = [f"{o} Revised." for o in outputs]
    embedder = MiniLMEmbedder()
    embedder.encode(references[:8])  # load and warm up
    texts = list(dict.fromkeys(outputs + references + inputs + [s for t in outputs + references + inputs
                                                               for s in sentences(t)]))

    def timed(fn) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    direct = timed(lambda: embedder.load().encode(texts, batch_size=embedder.batch_size, normalize_embeddings=True))
    cold = timed(lambda: score_outputs(outputs, references, inputs, embedder))
    cached = CachedEmbedder(embedder, Path(tempfile.mkdtemp()) / "embeddings.sqlite")
    score_outputs(outputs, references, inputs, cached)  # fills the cache
    warm_refs = timed(lambda: score_outputs(new_outputs, references, inputs, cached))
    warm_all = timed(lambda: score_outputs(new_outputs, references, inputs, cached))

    n = len(outputs)
    out = {"outputs": n, "distinct_texts": len(texts), "direct_texts_s": len(texts) / direct,
           "no_cache_outputs_s": n / cold, "refs_cached_outputs_s": n / warm_refs, "all_cached_outputs_s": n / warm_all,
           "refs_cached_over_no_cache": cold / warm_refs, "all_cached_over_no_cache": cold / warm_all}
    print(f"scorer on {n} outputs ({len(texts)} distinct texts and sentences): no cache {out['no_cache_outputs_s']:.1f}"
          f" outputs/s; references cached {out['refs_cached_outputs_s']:.1f} (x{out['refs_cached_over_no_cache']:.2f});"
          f" all cached {out['all_cached_outputs_s']:.0f} (x{out['all_cached_over_no_cache']:.1f}); "
          f"sentence-transformers encode alone: {out['direct_texts_s']:.0f} texts/s")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=2)
    main(**vars(parser.parse_args()))
