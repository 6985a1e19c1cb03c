from pathlib import Path

from runtime.manifest import load_manifest
from service.testing.tiny_models import make_tiny_model
from training.model_card import write_model_card


def _card(tmp_path: Path, conditional: bool, metrics: dict[str, float]) -> str:
    model_dir = make_tiny_model(tmp_path, conditional=conditional)
    m = load_manifest(model_dir)
    m = m.model_copy(update={"metrics": metrics})
    return write_model_card(m, model_dir).read_text()


def test_card_judges_unconditional_samples_against_the_issue_targets(tmp_path: Path) -> None:
    card = _card(
        tmp_path,
        False,
        {"sample_fd_ratio": 2.58, "sample_confident_share": 0.89, "linear_probe_accuracy": 0.98},
    )
    assert "| `sample_fd_ratio` | 2.5800 | <= 5 | met |" in card
    assert "| `sample_confident_share` | 0.8900 | >= 0.90 | **missed** |" in card
    assert "| `linear_probe_accuracy` | 0.9800 | >= 0.97 | met |" in card


def test_conditional_card_has_no_unconditional_sample_targets(tmp_path: Path) -> None:
    card = _card(tmp_path, True, {"sample_fd_ratio": 5.7, "conditional_accuracy": 0.995})
    assert "| `sample_fd_ratio` | 5.7000 |  |  |" in card
    assert "| `conditional_accuracy` | 0.9950 | >= 0.99 | met |" in card
