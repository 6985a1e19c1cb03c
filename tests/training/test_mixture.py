import math

import numpy as np
import pytest

from training.data import MIXTURE_STD, mixture_means, sample_mixture
from training.mixture import hq_metrics, modes_paper


def test_true_mixture_covers_all_modes() -> None:
    x, _ = sample_mixture(2500, seed=0)
    m = hq_metrics(x)
    assert modes_paper(x) == 25
    assert m["modes_hq"] == 25
    assert m["hq_fraction"] > 0.98  # 3 sigma in 2-D holds ~98.9 %
    assert m["reverse_kl"] < 0.02


def test_exactly_25_modes_uniform() -> None:
    x = np.repeat(mixture_means(), 100, axis=0)  # every mean, exactly, 100 times
    m = hq_metrics(x)
    assert modes_paper(x) == 25
    zero = pytest.approx(0.0, abs=1e-12)
    assert m == {"modes_hq": 25, "hq_fraction": 1.0, "reverse_kl": zero, "mode_std": 0.0}


def test_exactly_one_mode() -> None:
    x = np.tile(mixture_means()[7], (2500, 1))
    m = hq_metrics(x)
    assert modes_paper(x) == 1
    assert m["modes_hq"] == 1
    assert m["hq_fraction"] == 1.0
    assert m["reverse_kl"] == pytest.approx(np.log(25))


def test_half_off_grid() -> None:
    on = np.repeat(mixture_means(), 50, axis=0)  # 1250 on the means
    off = on + np.array([1.0, 1.0], dtype=np.float32)  # 1250 halfway between four means
    m = hq_metrics(np.concatenate([on, off]))
    assert m["hq_fraction"] == pytest.approx(0.5)
    assert m["modes_hq"] == 25
    assert m["reverse_kl"] == pytest.approx(0.0, abs=1e-12)  # the HQ half is uniform


def test_mode_std_is_the_datas_std_and_zero_on_the_means() -> None:
    x, _ = sample_mixture(20_000, seed=0)
    assert hq_metrics(x)["mode_std"] == pytest.approx(MIXTURE_STD, rel=0.03)
    assert hq_metrics(np.repeat(mixture_means(), 4, axis=0))["mode_std"] == 0.0
    assert math.isnan(hq_metrics(mixture_means() + 1.0)["mode_std"])  # nothing high quality


def test_paper_protocol_counts_assignment_not_quality() -> None:
    # Points far from every mean are still assigned to the nearest component.
    x = mixture_means()[:3] + 0.9
    assert modes_paper(x) == 3
    assert hq_metrics(x)["modes_hq"] == 0


def test_mixture_command_writes_json_and_plot(tmp_path) -> None:
    import json

    from training.evaluate import main

    main(["mixture", "--seeds", "2", "--steps", "3", "--out", str(tmp_path), "--quiet"])
    result = json.loads((tmp_path / "mixture.json").read_text())
    assert set(result["models"]) == {"ali", "ali_gibbs", "ali_drs", "ali_drs_gibbs", "gan"}
    for name, figs in result["models"].items():
        figures = ("modes_paper", "modes_hq", "hq_fraction", "reverse_kl", "mode_std")
        for fig in (*figures, "train_seconds"):
            assert set(figs[fig]) == {"mean", "std", "per_seed"} and len(figs[fig]["per_seed"]) == 2
        assert ("reconstruction_mse" in figs) == (name == "ali")
        assert ("acceptance" in figs) == (name in ("ali_drs", "ali_drs_gibbs"))
    assert all(0 < a <= 1 for a in result["models"]["ali_drs"]["acceptance"]["per_seed"])
    assert (tmp_path / "mixture.png").stat().st_size > 1000
