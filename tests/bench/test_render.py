"""BENCHMARKS.md is what bench/run.py renders from the committed bench/results.json."""

from __future__ import annotations

import json
from pathlib import Path

from bench.run import RESULTS, ROOT, load_results, main, markdown


def test_benchmarks_md_matches_the_committed_results() -> None:
    res = load_results(RESULTS)
    assert 64 in res["raw_ort_parallel"]["decoder"]  # batch sizes are ints again, not "64"
    assert (ROOT / "BENCHMARKS.md").read_text() == markdown(res)


def test_render_rewrites_benchmarks_md_without_measuring(tmp_path: Path) -> None:
    main(["--render", "--out", str(tmp_path)])
    assert (tmp_path / "BENCHMARKS.md").read_text() == markdown(load_results(RESULTS))


def test_render_is_the_same_on_any_later_day(monkeypatch) -> None:
    """The date in BENCHMARKS.md is the run's own (results.json), never the clock's."""
    import time

    later = time.gmtime(4102444800)  # 2100-01-01
    monkeypatch.setattr(time, "gmtime", lambda *a: later)
    monkeypatch.setattr(time, "localtime", lambda *a: later)
    res = load_results(RESULTS)
    assert res["date"] and res["commit"]
    md = markdown(res)
    assert "2100" not in md
    assert md == (ROOT / "BENCHMARKS.md").read_text()


def test_store_section_keeps_the_other_sections_and_renders(tmp_path: Path) -> None:
    from bench.run import store_section

    results, page = tmp_path / "results.json", tmp_path / "BENCHMARKS.md"
    results.write_text(RESULTS.read_text())
    committed = json.loads(RESULTS.read_text())
    figures = json.loads(RESULTS.read_text())["tracing"] | {"date": "2099-01-01"}
    store_section("tracing", figures, results, page)
    stored = json.loads(results.read_text())
    assert stored["tracing"]["date"] == "2099-01-01"
    assert {k: v for k, v in stored.items() if k != "tracing"} == {
        k: v for k, v in committed.items() if k != "tracing"
    }
    assert "on 2099-01-01 at commit" in page.read_text()
