"""`ali-eval`: the 25-Gaussian experiment and the MNIST evaluation of an exported model.

ali-eval mixture --seeds 10 --out results/mixture
ali-eval mnist --model models/mnist --data ../shared/datasets/mnist.npz --write
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from runtime.repository import latest_version_dir
from training.config import preset
from training.data import sample_mixture
from training.gibbs import gibbs_steps
from training.mixture import (
    HQ_RADIUS,
    HQ_SAMPLES,
    PAPER_SAMPLES,
    hq_metrics,
    modes_paper,
    summarise,
)
from training.rejection import rejection_sample

# ---- the mixture experiment ------------------------------------------------------------------


LABELS = {  # table rows and plot titles
    "ali": "ALI",
    "ali_gibbs": "ALI + Gibbs step",
    "ali_drs": "ALI + DRS",
    "ali_drs_gibbs": "ALI + DRS + Gibbs step",
    "gan": "GAN",
}


def mixture_run(
    kind: str, seed: int, out: Path, progress: bool = False, steps: int | None = None
) -> tuple[dict[str, dict[str, float]], dict[str, np.ndarray]]:
    """Train one toy model; returns metrics and 2,500 samples per sampler.

    The GAN has one sampler ("gan"). ALI has four, all from one training run: its decoder
    ("ali"); discriminator rejection sampling ("ali_drs", training/rejection.py); and each of
    those followed by one encoder -> decoder Gibbs step ("ali_gibbs", "ali_drs_gibbs",
    training/gibbs.py).
    """
    from training.train import train

    mcfg, tcfg = preset("toy")
    mcfg = dataclasses.replace(mcfg, kind=kind)
    tcfg = dataclasses.replace(tcfg, seed=seed)
    if steps is not None:  # shortened runs (tests); the preset is the recipe
        tcfg = dataclasses.replace(tcfg, epochs=1, steps_per_epoch=steps)
    t0 = time.perf_counter()
    trainer = train(mcfg, tcfg, out / f"{kind}-seed{seed}", progress=progress)
    secs = time.perf_counter() - t0
    enc, dec = trainer.inference_nets()
    disc = trainer.discriminator
    enc.eval(), dec.eval(), disc.eval()
    g = torch.Generator().manual_seed(10_000 + seed)

    def prior(n: int) -> torch.Tensor:
        return torch.randn(n, mcfg.nlat, generator=g)

    def encode(x: torch.Tensor) -> torch.Tensor:  # z ~ q(z | x), noise from g
        return enc(x, noise=prior(len(x)))

    with torch.no_grad():
        draws = {kind: dec(prior(PAPER_SAMPLES))}
        if kind == "ali":
            drs = rejection_sample(dec, disc, prior, PAPER_SAMPLES, generator=g)
            draws["ali_gibbs"] = gibbs_steps(encode, dec, draws["ali"])
            draws["ali_drs"] = drs.samples
            draws["ali_drs_gibbs"] = gibbs_steps(encode, dec, drs.samples)
        metrics: dict[str, dict[str, float]] = {}
        for name, x in draws.items():
            s = x.numpy()
            metrics[name] = {
                "modes_paper": modes_paper(s),
                **hq_metrics(s[:HQ_SAMPLES]),
                "train_seconds": secs,
            }
        if kind == "ali":
            metrics["ali_drs"]["acceptance"] = metrics["ali_drs_gibbs"]["acceptance"] = (
                drs.acceptance
            )
            x, _ = sample_mixture(10_000, seed=1_000_000 + seed)  # held out: not the training seed
            xt = torch.from_numpy(x)
            rec = dec(enc(xt)).numpy()
            metrics["ali"]["reconstruction_mse"] = float(((rec - x) ** 2).sum(axis=1).mean())
    return metrics, {name: x[:HQ_SAMPLES].numpy() for name, x in draws.items()}


def plot_mixture(samples: dict[str, np.ndarray], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle

    from training.data import mixture_means

    fig, axes = plt.subplots(1, len(samples), figsize=(4 * len(samples), 4))
    for ax, (name, s) in zip(np.atleast_1d(axes), samples.items(), strict=True):
        for m in mixture_means():  # the high-quality disc around each mean, under the samples
            ax.add_patch(Circle(tuple(m), HQ_RADIUS, fill=False, color="red", lw=0.8))
        ax.scatter(s[:, 0], s[:, 1], s=2, alpha=0.4, zorder=2)
        ax.set(
            title=f"{LABELS.get(name, name)} (seed 0)",
            xlim=(-6, 6),
            ylim=(-6, 6),
            aspect="equal",
        )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


FIGURES = (
    "modes_paper",
    "modes_hq",
    "hq_fraction",
    "reverse_kl",
    "mode_std",
    "train_seconds",
    "reconstruction_mse",
    "acceptance",
)


def mixture_table(result: dict[str, Any]) -> str:
    lines = ["| model | " + " | ".join(FIGURES) + " |", "|---" * (len(FIGURES) + 1) + "|"]
    for name, figs in result["models"].items():
        cells = []
        for f in FIGURES:
            cells.append(f"{figs[f]['mean']:.3f} ± {figs[f]['std']:.3f}" if f in figs else "—")
        lines.append(f"| {LABELS.get(name, name)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pool_run(
    args: tuple[str, int, Path, int, int | None],
) -> tuple[str, int, dict[str, dict[str, float]], dict[str, np.ndarray]]:
    kind, seed, out, threads, steps = args
    torch.set_num_threads(threads)
    metrics, samples = mixture_run(kind, seed, out, steps=steps)
    return kind, seed, metrics, samples


def run_mixture(
    seeds: int,
    out: Path,
    progress: bool = False,
    jobs: int = 1,
    threads: int = 2,
    steps: int | None = None,
) -> dict[str, Any]:
    """All (model, seed) runs; with jobs > 1 they run in parallel processes of `threads` each."""
    out.mkdir(parents=True, exist_ok=True)
    per: dict[str, dict[str, list[float]]] = {}  # sampler -> figure -> per-seed values
    plots: dict[str, np.ndarray] = {}
    kinds = ("ali", "gan")
    tasks = [(kind, seed, out / "runs", threads, steps) for kind in kinds for seed in range(seeds)]
    if jobs > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(jobs) as pool:
            results = pool.map(_pool_run, tasks, chunksize=1)
    else:
        torch.set_num_threads(threads)
        results = [(k, s, *mixture_run(k, s, o, progress, steps)) for k, s, o, _, _ in tasks]
    for _, seed, by_sampler, samples in sorted(results, key=lambda r: (r[0], r[1])):
        for name, metrics in by_sampler.items():
            if seed == 0:
                plots[name] = samples[name]
            for k, v in metrics.items():
                per.setdefault(name, {}).setdefault(k, []).append(v)
            print(
                f"{name} seed {seed}: " + ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()),
                file=sys.stderr,
            )
    result = {
        "seeds": seeds,
        "parallel_jobs": jobs,
        "threads_per_run": threads,
        "recipe": {
            "model": dataclasses.asdict(preset("toy")[0]),
            "train": dataclasses.asdict(preset("toy")[1]),
        },
        "models": {k: {f: summarise(v) for f, v in figs.items()} for k, figs in per.items()},
    }
    (out / "mixture.json").write_text(json.dumps(result, indent=2) + "\n")
    plot_mixture(plots, out / "mixture.png")
    return result


# ---- MNIST -------------------------------------------------------------------------------------


def _cmd_mnist(args: argparse.Namespace) -> None:
    from training.mnist_eval import evaluate_mnist

    evaluate_mnist(
        latest_version_dir(args.model),  # a model folder means its newest version
        args.data,
        Path(args.classifier),
        write=args.write,
        seed=args.seed,
        samples=args.samples,
    )


def _cmd_mixture(args: argparse.Namespace) -> None:
    result = run_mixture(
        args.seeds,
        Path(args.out),
        progress=not args.quiet,
        jobs=args.jobs,
        threads=args.threads,
        steps=args.steps,
    )
    print(mixture_table(result))
    print(f"wrote {Path(args.out) / 'mixture.json'} and {Path(args.out) / 'mixture.png'}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="ali-eval", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    mx = sub.add_parser(
        "mixture",
        help="ALI vs GAN on the 25-Gaussian mixture",
        description="Train ALI and the GAN baseline per seed; ALI is sampled four ways from one "
        "run: plain, + one encoder -> decoder Gibbs step, discriminator rejection sampling "
        "(DRS), DRS + Gibbs step. Writes OUT/mixture.json and OUT/mixture.png.",
    )
    mx.add_argument("--seeds", type=int, default=10)
    mx.add_argument("--out", default="results/mixture")
    mx.add_argument("--threads", type=int, default=2, help="torch threads per run")
    mx.add_argument("--jobs", type=int, default=1, help="runs in parallel (e.g. 2 x 1 thread)")
    mx.add_argument("--steps", type=int, help="override the recipe's step count (smoke tests)")
    mx.add_argument("--quiet", action="store_true")
    mx.set_defaults(func=_cmd_mixture)
    mn = sub.add_parser("mnist", help="evaluate an exported model on MNIST")
    mn.add_argument(
        "--model", required=True, help="models/NAME (its newest version) or models/NAME/VERSION"
    )
    mn.add_argument("--data", required=True, help="keras-layout mnist.npz")
    mn.add_argument(
        "--classifier",
        default="runs/digit-classifier.pt",
        help="cache for the judging classifier (trained if missing)",
    )
    mn.add_argument("--seed", type=int, default=0)
    mn.add_argument(
        "--samples",
        type=int,
        default=10_000,
        help="samples per sampler, and training digits for the FD floor (smoke tests: fewer)",
    )
    mn.add_argument(
        "--write",
        action="store_true",
        help="record metrics in the manifest, render PNGs and the model card",
    )
    mn.set_defaults(func=_cmd_mnist)
    args = p.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
