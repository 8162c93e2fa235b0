"""`python -m bench` runs every toolchain once, untimed, before the runs it reports."""

from __future__ import annotations

import json
from pathlib import Path

import bench.__main__ as bench_main
import pytest
from bench.workloads import Workload


def test_warm_up_run_comes_first_and_is_not_reported(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # The toolchains themselves are slow (and the pinned one installs from PyPI): this
    # checks the bench's bookkeeping, with a stand-in that says which call it was.
    calls: list[tuple[str, int]] = []

    def measure(workload: Workload, runs: int, *_: object) -> tuple[dict, set]:
        calls.append((workload.name, runs))
        return {"ours cold": [float(len(calls))], "ours no-pdf": [1.0]}, set()

    monkeypatch.setattr(bench_main, "measure", measure)
    out = tmp_path / "results.json"
    empty_corpus = tmp_path / "corpus"  # no corpus: fm-survey alone, no pinned reference
    empty_corpus.mkdir()
    assert bench_main.main(["--runs", "2", "--only", "fm-survey", "--corpus",
                            str(empty_corpus), "--json", str(out)]) == 0
    assert calls == [("fm-survey", 1), ("fm-survey", 2)]
    # The first call's samples (1.0) were the warm-up's: only the second's are reported.
    assert json.loads(out.read_text())["results"]["fm-survey"]["ours cold"] == [2.0]


def test_no_warm_up_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def measure(workload: Workload, runs: int, *_: object) -> tuple[dict, set]:
        calls.append(runs)
        return {"ours cold": [1.0], "ours no-pdf": [1.0]}, set()

    monkeypatch.setattr(bench_main, "measure", measure)
    (tmp_path / "corpus").mkdir()
    bench_main.main(["--runs", "1", "--only", "fm-survey", "--corpus", str(tmp_path / "corpus"),
                     "--no-warm-up"])
    assert calls == [1]


def test_warm_up_prefers_the_tour(tmp_path: Path) -> None:
    """rootstock-tour starts every program a build starts (formulas: V8), fm-survey not."""
    mine, tour = Workload("fm-survey", tmp_path), Workload("rootstock-tour", tmp_path)
    assert bench_main.warm_up_workload([mine, tour]).name == "rootstock-tour"
    assert bench_main.warm_up_workload([mine]).name == "fm-survey"
