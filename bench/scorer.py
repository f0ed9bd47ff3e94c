"""Texts per second of the scorer (all-MiniLM-L6-v2 through the workbench's `similarities`), against
sentence-transformers' own `encode` on the same distinct texts.

    python bench/scorer.py [--repeat 4]
"""
from __future__ import annotations

import argparse
import time

from llmops_wb.config import load_settings
from llmops_wb.datasets import load_dataset
from llmops_wb.scoring import MiniLMEmbedder, similarities


def main(repeat: int = 4) -> dict:
    settings = load_settings()
    cases = [c for task in ("summarize", "explain")
             for c in load_dataset(settings.path("project.datasets_dir") / f"{task}.jsonl").cases]
    # outputs stand in as the inputs' text; each pair is two sentences-or-paragraphs to embed
    outputs = [str(c.input.get("text") or c.input.get("concept")) for c in cases] * repeat
    references = [c.expected + f" [{i}]" for i, c in enumerate(cases * repeat)]  # distinct, so none is deduplicated
    embedder = MiniLMEmbedder()
    model = embedder.load()
    model.encode(references[:8])  # warm up
    texts = list(dict.fromkeys(outputs + references))  # what `similarities` embeds: each distinct text once

    start = time.perf_counter()
    model.encode(texts, batch_size=embedder.batch_size, normalize_embeddings=True)
    raw = time.perf_counter() - start
    start = time.perf_counter()
    similarities(outputs, references, embedder)
    ours = time.perf_counter() - start

    result = {"texts": len(texts), "direct_texts_s": len(texts) / raw, "scorer_texts_s": len(texts) / ours,
              "scorer_pairs_s": len(outputs) / ours, "scorer_over_direct": raw / ours}
    print(f"scorer: {result['scorer_texts_s']:.0f} texts/s ({result['scorer_pairs_s']:.0f} output-reference pairs/s) "
          f"on {len(texts)} texts of 1 to 160 words; sentence-transformers encode alone on the same texts: "
          f"{result['direct_texts_s']:.0f} texts/s (ratio {result['scorer_over_direct']:.3f})")
    return result

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=4)
    main(**vars(parser.parse_args()))
