"""Writes models/NAME/README.md (the model card) from the manifest."""

from __future__ import annotations

from pathlib import Path

from runtime.manifest import Manifest

TARGETS = {
    "conditional_accuracy": (">= 0.99", lambda v: v >= 0.99),
    "linear_probe_accuracy": (">= 0.97", lambda v: v >= 0.97),
    "semi_supervised_100_error": ("<= 0.10", lambda v: v <= 0.10),
    "reconstruction_class_accuracy": (">= 0.90", lambda v: v >= 0.90),
    "sample_largest_class_share": ("<= 0.15", lambda v: v <= 0.15),
}
# Unconditional samples (issue "samples that look like MNIST"), for GET /sample's default sampler.
UNCONDITIONAL_TARGETS = {
    "sample_fd_ratio": ("<= 5", lambda v: v <= 5.0),
    "sample_confident_share": (">= 0.90", lambda v: v >= 0.90),
}


_PROBES_COND = (
    "The encoder of a conditional model is given the label, so the label probes are not reported."
)
_PROBES = """Features for the probes are μ(x) from the encoder. `linear_probe_accuracy`: logistic regression
on all 60k training features. `semi_supervised_100_error`: 10 labelled training images per class,
the other 59,900 unlabelled; label spreading over a 10-nearest-neighbour graph of the training
features, test images labelled from their training neighbours (10 draws). `few_label_probe_100_error`:
logistic regression on the 100 labelled features alone (no unlabelled data), for comparison."""


def _value(v: object) -> float | None:
    if isinstance(v, dict):
        return float(v["mean"]) if "mean" in v else None
    return float(v) if isinstance(v, int | float) else None


def _run_dir(m: Manifest) -> str:
    """The training command's --out folder (where its checkpoint is), else runs/NAME."""
    words = m.training.command.split()
    return words[words.index("--out") + 1] if "--out" in words[:-1] else f"runs/{m.name}"


def _robustness(m: Manifest) -> str:
    r = m.metrics.get("classifier_robustness")
    if not isinstance(r, dict):
        return "not measured"
    return ", ".join(f"{k.replace('_', ' ')} {v:.3f}" for k, v in r.items())


_QUALITY = """`sample_fd` is the Fréchet distance between 10k samples and the 10k test digits in the
judge's penultimate feature space (128-d; FID's recipe with the MNIST judge in place of
Inception), `sample_fd_floor` the same for 10k training digits (what a perfect sampler would
score) and `sample_fd_ratio` the first over the second. `sample_confident_share`: the share of
samples the judge reads with confidence >= 0.9. `sample_precision` / `sample_recall`
(Kynkäänniemi et al. 2019, k = 3 nearest neighbours in the same features): the share of samples
inside the test digits' manifold / of test digits inside the samples' manifold;
`*_reference` are what the 10k training digits get."""

_SAMPLERS = """## Samplers (`GET /sample?sampler=...`)

The service's own sampler code (`runtime/samplers.py`) run offline by `ali-eval`, 10k samples
each, same seed; figures as above. `drs`: discriminator rejection sampling, decoder samples kept
with probability exp(D(x, z) − M), M the largest logit of {n} calibration samples drawn at load
time (M = {bound:.3f}, calibrated acceptance {acc:.3f}); `gibbs`: one step
z' ~ q(z | x), x' = Gx(z'); `drs+gibbs`: both. ms/image: onnxruntime on this machine's CPU,
batches of 500, including DRS's rejected proposals (the service's cost at n = 64 is in
BENCHMARKS.md).

| sampler | FD | FD ÷ floor | confident ≥ 0.9 | precision | recall |{cond_head} acceptance | ms/image |
|---|---|---|---|---|---|{cond_rule}---|---|
{rows}
"""


def _grids(model_dir: Path) -> str:
    names = ("ancestral", "drs", "gibbs", "drs-gibbs")
    return "".join(
        f"- `samples-{n}.png` — `GET /sample?n=64&seed=1&sampler={n.replace('-', '+')}`\n"
        for n in names
        if (model_dir / f"samples-{n}.png").is_file()
    )


def _sampler_table(m: Manifest) -> str:
    per = m.metrics.get("sampler_metrics")
    bound = m.metrics.get("drs_bound")
    if not isinstance(per, dict) or not isinstance(bound, dict):
        return ""
    cond = m.conditional
    rows = []
    for name, q in per.items():
        acc = f" {q['class_accuracy']:.4f} |" if cond else ""
        rows.append(
            f"| `{name}` | {q['fd']:.2f} | {q['fd_ratio']:.2f} | {q['confident_share']:.4f} | "
            f"{q['precision']:.4f} | {q['recall']:.4f} |{acc} {q['acceptance']:.3f} | "
            f"{q['ms_per_image']:.2f} |"
        )
    return _SAMPLERS.format(
        n=bound["calibration_samples"],
        bound=bound["m"],
        acc=bound["calibrated_acceptance"],
        cond_head=" class accuracy |" if cond else "",
        cond_rule="---|" if cond else "",
        rows="\n".join(rows),
    )


def write_model_card(m: Manifest, model_dir: Path) -> Path:
    kind = "conditional (digit label)" if m.conditional else "unconditional"
    targets = TARGETS if m.conditional else {**TARGETS, **UNCONDITIONAL_TARGETS}
    rows = []
    for key, raw in m.metrics.items():
        v = _value(raw)
        if v is None:
            continue
        shown = f"{v:.4f}" + (f" ± {raw['std']:.4f}" if isinstance(raw, dict) else "")
        target, ok = targets.get(key, ("", None))
        verdict = "" if ok is None else ("met" if ok(v) else "**missed**")
        rows.append(f"| `{key}` | {shown} | {target} | {verdict} |")
    t = m.training
    text = f"""# {m.name} — ALI on MNIST, {kind}

Adversarially Learned Inference (Dumoulin et al. 2016): a decoder Gx(z), an encoder q(z|x) and a
joint discriminator D(x, z), trained together. Exported to ONNX for the service.

| | |
|---|---|
| image | {m.image.channels}×{m.image.height}×{m.image.width}, pixels in [{m.pixels.low}, {m.pixels.high}] (x = p/127.5 − 1) |
| latent | {m.latent.dim}-d, prior {m.latent.prior} |
| classes | {", ".join(m.classes) or "none"} |
| trained | {t.epochs} epochs on {t.dataset}, seed {t.seed}, {(t.train_seconds or 0) / 60:.1f} min on CPU |
| commit | `{t.git_commit}` |

## How it was made

```
{t.command}
ali-export {_run_dir(m)}/checkpoint.pt --name {m.name} --out models/
ali-eval mnist --model models/{m.name} --data ../shared/datasets/mnist.npz --write
```

## Metrics (`ali-eval mnist`, MNIST test set)

{_PROBES_COND if m.conditional else _PROBES}
The judging classifier is a small CNN trained by `ali-eval` (its own test accuracy is listed;
accuracy on perturbed test digits: {_robustness(m)}). `sample_diversity_ratio` is the mean
pairwise distance between samples of one class over that between test images of the class
(1 = as varied as the data, 0 = one image per class).
{_QUALITY if "sample_fd" in m.metrics else ""}

| metric | value | target | |
|---|---|---|---|
{chr(10).join(rows)}

{_sampler_table(m)}
## Figures

- `samples.png` — 64 samples from the prior{" (column k is digit k)" if m.conditional else ""}
- `reconstructions.png` — test images (odd columns) beside their reconstructions Gx(μ(x))
- `interpolations.png` — linear paths in latent space between two test images (ends are the inputs)
{_grids(model_dir)}"""
    path = model_dir / "README.md"
    path.write_text(text)
    return path
