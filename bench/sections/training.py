"""Section 7: the Trainer vs a plain PyTorch loop, and ByteDropout vs nn.Dropout
(bench/train_speed.py; not in --smoke; `--train-only` measures it alone)."""

from __future__ import annotations

from bench.sections.common import Bench, Results, Section, say


def measure_training(quick: bool = False) -> Results:
    from bench.train_speed import compare, compare_dropout

    steps = 5 if quick else 10
    return {
        "train": compare("mnist", steps=steps),
        "train_dropout": compare_dropout("mnist", steps=steps),
    }


def measure(bench: Bench, res: Results) -> Results:
    if bench.smoke:
        return {}
    say("training throughput")
    return measure_training(bench.quick_train)


def targets(res: Results) -> dict[str, float]:
    return {"train_vs_plain_ratio": res["train"]["ratio"]}


def _pairs(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def render(res: Results) -> list[str]:
    t = res["train"]
    lines = [
        "## 7. Training throughput (MNIST preset, batch 100)",
        "",
        *(
            [f"Made by `{t['command']}` on {t['date']} at commit `{t['commit']}`.", ""]
            if "command" in t  # measured on its own, after the run in the header
            else []
        ),
        f"Trainer {t['ours_images_per_s']:.0f} images/s vs plain PyTorch loop "
        f"{t['plain_images_per_s']:.0f} images/s: ratio {t['ratio']:.2f} "
        f"(pairwise {_pairs(t['pairwise_ratios'])}). The plain loop is the textbook step in "
        "fp32 (bench/train_speed.py); the Trainer runs the preset's bf16 autocast and "
        "channels-last convolutions, reuses one encoder forward pass for both updates and makes "
        "one decoder call for Gx(z) and the cycle term, which the plain loop recomputes.",
    ]
    if "train_dropout" in res:
        d = res["train_dropout"]
        lines += [
            "",
            f"D's dropout masks from random bytes (`ByteDropout`) vs torch's `nn.Dropout` "
            f"(Bernoulli draws), the same Trainer and preset otherwise: "
            f"{d['byte_ms_per_step']:.0f} vs {d['torch_ms_per_step']:.0f} ms a step, "
            f"{d['speedup']:.2f}x (pairwise {_pairs(d['pairwise_speedups'])}).",
        ]
    return lines


SECTION = Section("train", render, measure, targets)
