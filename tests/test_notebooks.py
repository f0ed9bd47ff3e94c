"""The notebooks as the source of the package (peer case C17): each module is written by exactly one notebook, so
the generated code cannot depend on the order in which notebooks are exported; and every module has its notebook."""
from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def export_targets(notebook: Path) -> set[str]:
    "The modules `notebook` writes: its `default_exp`, and any `#| export NAME` cells."
    cells = json.loads(notebook.read_text())["cells"]
    targets, default = set(), None
    for cell in cells:
        if cell["cell_type"] != "code": continue
        source = "".join(cell["source"])
        if m := re.search(r"^#\|\s*default_exp\s+(\S+)", source, re.M): default = m.group(1)
        for m in re.finditer(r"^#\|\s*(?:export|exports|exporti)\b[ \t]*(\S*)", source, re.M):
            targets.add(m.group(1) or default)
    return {t for t in targets if t}


def test_each_module_has_exactly_one_source_notebook():
    writers = defaultdict(list)
    for notebook in sorted((REPO / "nbs").rglob("*.ipynb")):
        for module in export_targets(notebook): writers[module].append(notebook.name)
    assert {m: nbs for m, nbs in writers.items() if len(nbs) > 1} == {}
    generated = {p.stem for p in (REPO / "llmops_wb").glob("*.py") if not p.name.startswith("_")}
    assert generated == set(writers)


def test_a_second_writer_is_detected(tmp_path: Path):
    nb = {"cells": [{"cell_type": "code", "source": ["#| default_exp budget\n"]},
                    {"cell_type": "code", "source": ["#| export cost\n", "def monthly_budget(): ...\n"]}]}
    (tmp_path / "07_budget.ipynb").write_text(json.dumps(nb))
    assert export_targets(tmp_path / "07_budget.ipynb") == {"cost"}
