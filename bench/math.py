"""The math engine's cost: MathJax (build/manuscript/math.py) on every formula we have.

Formulas are read with pandoc from the corpus manuscripts' and the showcase fixture's
sections; as those hold ~20 formulas, a second set of 300 distinct formulas (the same
ones, each varied by a term) stands for a large manuscript. Each run starts a fresh
engine (a new V8 context), so the first formulas pay V8's warm-up as a build does.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from manuscript import pandoc
from manuscript.math import Engine, Formula, collect

LARGE = 300


def formulas(folders: list[Path]) -> list[Formula]:
    found: dict[Formula, None] = {}
    for folder in folders:
        for section in sorted((folder / "content").glob("[0-9]*.md")):
            ast = pandoc.markdown_to_ast(section.read_text(encoding="utf-8"))
            found.update(dict.fromkeys(collect(ast)))
    return list(found)


def measure(folders: list[Path], runs: int) -> dict[str, list[float]]:
    real = formulas(folders)
    large = [Formula(f"{f.tex} + {i}", f.display)
             for i, f in zip(range(LARGE), real * (LARGE // max(len(real), 1) + 1), strict=False)]
    samples: dict[str, list[float]] = {"count": [len(real)]}
    for _ in range(runs):
        with Engine() as engine:
            start = time.perf_counter()
            engine.typeset(Formula("x", False))
            samples.setdefault("start", []).append(time.perf_counter() - start)
            for key, batch in (("real", real), ("large", large)):
                start = time.perf_counter()
                errors = [f.tex for f in batch if engine.typeset(f).error]
                assert not errors, f"formulas MathJax refused: {errors}"
                samples.setdefault(key, []).append(time.perf_counter() - start)
    return samples


def table(folders: list[Path], runs: int) -> str:
    samples = measure(folders, runs)
    count = int(samples["count"][0])
    if not count:
        return "\n### math engine\n\nno formulas found\n"

    def row(label: str, values: list[float], per: int = 0) -> str:
        med = statistics.median(values)
        each = f" ({med / per * 1000:.1f} ms per formula)" if per else ""
        return f"| {label}{each} | {med:.2f} | {min(values):.2f}-{max(values):.2f} |"

    return "\n".join([
        "\n### math engine (MathJax 3 SVG in V8, build/manuscript/math.py)\n",
        "| measurement | median s | min-max s |", "|---|---:|---:|",
        row("engine start (V8 + MathJax bundle, first formula)", samples["start"]),
        row(f"{count} distinct formulas of the corpus and the showcase fixture",
            samples["real"], count),
        row(f"{LARGE} distinct formulas (the same, varied), as a large manuscript",
            samples["large"], LARGE),
    ]) + "\n"
