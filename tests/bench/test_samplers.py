"""bench/samplers.py on a generated tiny model: every sampler measured, section 8 renders."""

from __future__ import annotations

from pathlib import Path

from bench.run import RESULTS, load_results, markdown
from bench.samplers import run
from runtime.samplers import SAMPLERS
from service.testing.tiny_models import make_tiny_model


def test_samplers_bench_measures_each_sampler_and_renders(tmp_path: Path) -> None:
    make_tiny_model(tmp_path, "tiny")
    res = run(tmp_path, ["tiny"], requests=2)
    per = res["models"]["tiny"]
    assert list(per) == list(SAMPLERS)
    assert per["ancestral"]["acceptance"] == 1.0 and per["ancestral"]["cost_vs_ancestral"] == 1.0
    assert 0 < per["drs"]["acceptance"] < 1 and per["drs"]["proposals_per_image"] > 1
    assert all(r["ms_per_image"] > 0 for r in per.values())
    md = markdown(load_results(RESULTS) | {"samplers": res})
    assert "## 8. Samplers" in md and "| tiny | `drs+gibbs` |" in md
