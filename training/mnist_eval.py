"""MNIST evaluation of an exported model (the ONNX files, through runtime.model).

Figures: reconstruction MSE; linear probe on mu(x); semi-supervised error with 100 labels; the
class histogram of unconditional samples or the accuracy of conditional ones; the fraction of
reconstructions classified as their input. A small CNN (training/classifier.py) judges digits.

Sample quality in the judge's penultimate feature space (training/sample_quality.py): the
Fréchet distance of 10k samples to the 10k test digits beside that of 10k training digits (the
floor), the share of samples the judge reads with confidence >= 0.9, and k-NN precision / recall.
The same figures per sampler of GET /sample (runtime/samplers.py, the service's own code, run
offline), with DRS's acceptance and the cost per image.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelSpreading

from runtime.grid import save_grid
from runtime.manifest import load_manifest, write_manifest
from runtime.model import Model, load_model
from runtime.samplers import (
    DRS_CALIBRATION,
    MAX_DRS_PROPOSALS,
    SAMPLERS,
    DrsBound,
    Offline,
    Prior,
    Samples,
    calibrate,
    sample,
)
from training.classifier import judge, load_or_train, predict, robustness
from training.data import load_mnist
from training.model_card import write_model_card
from training.sample_quality import frechet_distance, precision_recall

BATCH = 500
SEMI_DRAWS = 10
SEMI_PER_CLASS = 10
SEMI_NEIGHBOURS = 10
SAMPLES = 10_000
K_NN = 3  # neighbours for the precision / recall manifolds (Kynkäänniemi et al. use 3)
CONFIDENT = 0.9
GRID_SEED = 1  # the per-sampler grids are GET /sample?n=64&seed=1&sampler=...


def _batched(fn: Any, *arrays: np.ndarray | None) -> np.ndarray:
    n = len(arrays[0])  # type: ignore[arg-type]
    outs = [
        fn(*(None if a is None else a[i : i + BATCH] for a in arrays)) for i in range(0, n, BATCH)
    ]
    return np.concatenate(outs)


def encode_mu(model: Model, x: np.ndarray, y: np.ndarray | None) -> np.ndarray:
    return _batched(lambda a, b: model.encode(a, b)[0], x, y)


def decode(model: Model, z: np.ndarray, y: np.ndarray | None) -> np.ndarray:
    return _batched(model.decode, z, y)


def linear_probe(f_tr: np.ndarray, y_tr: np.ndarray, f_te: np.ndarray, y_te: np.ndarray) -> float:
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    clf.fit(f_tr, y_tr)
    return float(clf.score(f_te, y_te))


def _label_draws(y_tr: np.ndarray, seed: int) -> list[np.ndarray]:
    """SEMI_DRAWS index sets of SEMI_PER_CLASS labelled training images per class."""
    rng = np.random.default_rng(seed)
    return [
        np.concatenate(
            [
                rng.choice(np.flatnonzero(y_tr == c), SEMI_PER_CLASS, replace=False)
                for c in range(10)
            ]
        )
        for _ in range(SEMI_DRAWS)
    ]


def semi_supervised_errors(
    f_tr: np.ndarray, y_tr: np.ndarray, f_te: np.ndarray, y_te: np.ndarray, seed: int
) -> list[float]:
    """Label spreading (Zhou et al. 2004) over a kNN graph of all training features.

    Per draw, 100 training images keep their labels and the other 59,900 are unlabelled; the
    labels spread along the graph, and each test image takes the label the fitted model gives
    it from its training neighbours (the test set is never part of the graph).
    """
    scaler = StandardScaler().fit(f_tr)
    a_tr, a_te = scaler.transform(f_tr), scaler.transform(f_te)
    errors = []
    for idx in _label_draws(y_tr, seed):
        partial = np.full(len(y_tr), -1)
        partial[idx] = y_tr[idx]
        # alpha 0.9, not sklearn's 0.2: each hop keeps alpha of a label's weight, and at 0.2 the
        # labels faded out a few hops from the 100 seeds (0/0 rows, predicted as class 0).
        model = LabelSpreading(kernel="knn", n_neighbors=SEMI_NEIGHBOURS, alpha=0.9, max_iter=1000)
        model.fit(a_tr, partial)
        with np.errstate(invalid="ignore"):  # 0/0: neighbours no label reached, a NaN row
            proba = model.predict_proba(a_te)
        reached = np.isfinite(proba).all(axis=1)
        pred = np.where(reached, model.classes_[np.nan_to_num(proba, nan=0.0).argmax(axis=1)], -1)
        errors.append(float((pred != y_te).mean()))  # unreached test images count as errors
    return errors


def few_label_probe_errors(
    f_tr: np.ndarray, y_tr: np.ndarray, f_te: np.ndarray, y_te: np.ndarray, seed: int
) -> list[float]:
    """The supervised baseline: logistic regression on the 100 labelled features alone."""
    return [1.0 - linear_probe(f_tr[i], y_tr[i], f_te, y_te) for i in _label_draws(y_tr, seed)]


def _summary(errors: list[float]) -> dict[str, Any]:
    return {"mean": float(np.mean(errors)), "std": float(np.std(errors)), "per_draw": errors}


def _mean_pairwise_distance(x: np.ndarray) -> float:
    f = x.reshape(len(x), -1).astype(np.float64)
    sq = (f**2).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * f @ f.T, 0.0)
    n = len(f)
    return float(np.sqrt(d2).sum() / (n * (n - 1)))


def within_class_diversity(
    samples: np.ndarray, sample_labels: np.ndarray, real: np.ndarray, real_labels: np.ndarray
) -> float:
    """Mean pairwise L2 distance of samples within a class / the same for real images, averaged.

    1.0: as varied as the data; near 0: one image per class (what a class loss pushed too hard
    produces, while classification accuracy looks perfect). Up to 200 images per class.
    """
    ratios = []
    for c in np.unique(real_labels):
        s, r = samples[sample_labels == c][:200], real[real_labels == c][:200]
        if len(s) >= 2 and len(r) >= 2:
            ratios.append(_mean_pairwise_distance(s) / _mean_pairwise_distance(r))
    return float(np.mean(ratios))


class Reference:
    """The test digits' judge features, and the figures 10k training digits get against them."""

    def __init__(self, clf: Any, x_tr: np.ndarray, x_te: np.ndarray, n: int, seed: int) -> None:
        self.clf = clf
        self.test, _ = judge(clf, x_te)
        idx = np.random.default_rng(seed).choice(len(x_tr), min(n, len(x_tr)), replace=False)
        train, _ = judge(clf, x_tr[idx])
        self.fd_floor = frechet_distance(train, self.test)
        self.precision, self.recall = precision_recall(self.test, train, K_NN)

    def quality(self, images: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
        """images [N, 1, 28, 28] -> (fd, fd_ratio, confident_share, precision, recall; probs)."""
        feats, proba = judge(self.clf, images)
        fd = frechet_distance(feats, self.test)
        precision, recall = precision_recall(self.test, feats, K_NN)
        return {
            "fd": fd,
            "fd_ratio": fd / self.fd_floor,
            "confident_share": float((proba.max(1) >= CONFIDENT).mean()),
            "precision": precision,
            "recall": recall,
        }, proba


def drs_bound(model: Model) -> DrsBound:
    """The bound the service calibrates at load time (same seed and count: the same M)."""
    m = model.manifest
    prior = Prior(m.latent.dim, m.num_classes)
    return calibrate(model.decode, model.discriminate, prior, DRS_CALIBRATION)


def run_sampler(
    model: Model, name: str, n: int, seed: int, bound: DrsBound, cap: int
) -> tuple[Samples, float]:
    """GET /sample's sampler `name` (runtime/samplers.py) offline: (samples, seconds)."""
    m = model.manifest
    start = time.perf_counter()
    rng, prior = np.random.default_rng(seed), Prior(m.latent.dim, m.num_classes)
    out = asyncio.run(sample(Offline(model, BATCH), name, n, rng, prior, bound, cap))
    return out, time.perf_counter() - start


def sampler_metrics(
    model: Model, ref: Reference, n: int, seed: int, bound: DrsBound
) -> dict[str, Any]:
    """Per sampler: quality (Reference.quality), acceptance, proposals and ms per image.

    No proposal cap here (the service's ALI_MAX_DRS_PROPOSALS is per request).
    """
    out: dict[str, Any] = {}
    for name in SAMPLERS:
        s, seconds = run_sampler(model, name, n, seed, bound, 1000 * n)
        q, proba = ref.quality(s.images)
        if s.labels is not None:
            q["class_accuracy"] = float((proba.argmax(1) == s.labels).mean())
        else:  # DRS may move mass between digits
            q["largest_class_share"] = float(np.bincount(proba.argmax(1), minlength=10).max() / n)
        q |= {
            "acceptance": s.acceptance,
            "proposals_per_image": s.proposed / n,
            "ms_per_image": 1000 * seconds / n,
        }
        out[name] = q
        print(f"sampler {name}: {json.dumps(q)}", file=sys.stderr)
    return out


def evaluate_mnist(
    model_dir: Path,
    data: str,
    classifier_cache: Path,
    write: bool = False,
    seed: int = 0,
    samples: int = SAMPLES,
) -> dict[str, Any]:
    """Every figure of the model's manifest, block by block; `write` also renders the figures,
    the manifest's metrics and the model card."""
    model = load_model(model_dir)
    train, test = load_mnist(data, "train"), load_mnist(data, "test")
    x_tr, y_tr = train.x.numpy(), train.y.numpy()
    x_te, y_te = test.x.numpy(), test.y.numpy()
    clf, clf_acc = load_or_train(classifier_cache, data)
    m: dict[str, Any] = {
        "classifier_test_accuracy": clf_acc,
        "classifier_robustness": robustness(clf, x_te, y_te),
    }
    rec, mu_te = reconstruction_metrics(model, clf, x_te, y_te)
    m |= rec
    if not model.manifest.conditional:  # a conditional encoder is given the label: nothing to probe
        m |= code_metrics(model, x_tr, y_tr, mu_te, y_te, seed)
    class_figures, images = sample_class_metrics(model, clf, x_te, y_te, samples, seed)
    m |= class_figures
    ref = Reference(clf, x_tr, x_te, samples, seed)
    m |= sample_quality_metrics(ref, images)
    m |= drs_and_sampler_metrics(model, ref, samples, seed)
    print(json.dumps(m, indent=2))
    if write:
        write_results(model, model_dir, m, x_te, y_te, seed)
    return m


def reconstruction_metrics(
    model: Model, clf: Any, x_te: np.ndarray, y_te: np.ndarray
) -> tuple[dict[str, Any], np.ndarray]:
    """x -> Gx(mu(x)) on the test digits: MSE and how often the judge reads the input's digit.
    Also returns mu(x) of the test digits for the probes."""
    y = y_te if model.manifest.conditional else None
    mu_te = encode_mu(model, x_te, y)
    rec = decode(model, mu_te, y)
    return {
        "reconstruction_mse": float(((rec - x_te) ** 2).mean()),  # pixel range [-1, 1]
        "reconstruction_class_accuracy": float((predict(clf, rec) == y_te).mean()),
    }, mu_te


def code_metrics(
    model: Model,
    x_tr: np.ndarray,
    y_tr: np.ndarray,
    mu_te: np.ndarray,
    y_te: np.ndarray,
    seed: int,
) -> dict[str, Any]:
    """The unconditional code mu(x): linear probe, label spreading and logistic regression on 100
    labels."""
    mu_tr = encode_mu(model, x_tr, None)
    return {
        "linear_probe_accuracy": linear_probe(mu_tr, y_tr, mu_te, y_te),
        "semi_supervised_100_error": _summary(
            semi_supervised_errors(mu_tr, y_tr, mu_te, y_te, seed)
        ),
        "few_label_probe_100_error": _summary(
            few_label_probe_errors(mu_tr, y_tr, mu_te, y_te, seed)
        ),
    }


def sample_class_metrics(
    model: Model, clf: Any, x_te: np.ndarray, y_te: np.ndarray, n: int, seed: int
) -> tuple[dict[str, Any], np.ndarray]:
    """n ancestral samples as the judge classifies them: accuracy of conditional ones, class
    histogram, within-class diversity. Also returns the samples."""
    m: dict[str, Any] = {}
    z = np.random.default_rng(seed).standard_normal((n, model.manifest.latent.dim))
    z = z.astype(np.float32)
    if model.manifest.conditional:
        labels = np.arange(n) % 10
        images = decode(model, z, labels)
        pred = predict(clf, images)
        m["conditional_accuracy"] = float((pred == labels).mean())
    else:
        images = decode(model, z, None)
        pred = labels = predict(clf, images)  # unconditional: group samples by the judge's class
    m["sample_diversity_ratio"] = within_class_diversity(images, labels, x_te, y_te)
    hist = np.bincount(pred, minlength=10) / len(pred)
    m["sample_class_histogram"] = [float(v) for v in hist]
    m["sample_largest_class_share"] = float(hist.max())
    return m, images


def sample_quality_metrics(ref: Reference, images: np.ndarray) -> dict[str, Any]:
    """FD, confident share and precision / recall of the samples, beside the training digits'."""
    quality, _ = ref.quality(images)
    return {
        "sample_fd": quality["fd"],
        "sample_fd_floor": ref.fd_floor,  # 10k training digits against the test digits
        "sample_fd_ratio": quality["fd_ratio"],
        "sample_confident_share": quality["confident_share"],
        "sample_precision": quality["precision"],
        "sample_recall": quality["recall"],
        "sample_precision_reference": ref.precision,  # what the training digits get
        "sample_recall_reference": ref.recall,
    }


def drs_and_sampler_metrics(model: Model, ref: Reference, n: int, seed: int) -> dict[str, Any]:
    """The DRS bound the service would calibrate, and every sampler's figures under it."""
    bound = drs_bound(model)
    return {
        "drs_bound": {
            "m": bound.bound,
            "calibrated_acceptance": bound.acceptance,
            "calibration_samples": DRS_CALIBRATION,
        },
        "sampler_metrics": sampler_metrics(model, ref, n, seed, bound),
    }


def write_results(
    model: Model, model_dir: Path, m: dict[str, Any], x_te: np.ndarray, y_te: np.ndarray, seed: int
) -> None:
    """Figures, per-sampler grids, the metrics in the manifest, and the model card."""
    render_figures(model, x_te, y_te, seed)
    render_sampler_grids(model)
    manifest = load_manifest(model_dir).model_copy(update={"metrics": m})
    write_manifest(manifest, model_dir)
    write_model_card(manifest, model_dir)
    print(f"wrote metrics, figures and model card to {model_dir}", file=sys.stderr)


def render_figures(model: Model, x_te: np.ndarray, y_te: np.ndarray, seed: int) -> None:
    """samples.png (8x8), reconstructions.png (input | reconstruction), interpolations.png."""
    cond = model.manifest.conditional
    d = model.manifest.latent.dim
    rng = np.random.default_rng(seed + 1)
    out = model.directory
    labels = np.arange(64) % 8 if cond else None  # conditional: each column one digit 0-7
    save_grid(
        str(out / "samples.png"),
        model.decode(rng.standard_normal((64, d)).astype(np.float32), labels),
        cols=8,
    )

    idx = rng.choice(len(x_te), 32, replace=False)
    x, y = x_te[idx], y_te[idx] if cond else None
    rec = model.decode(model.encode(x, y)[0], y)
    save_grid(
        str(out / "reconstructions.png"), np.stack([x, rec], 1).reshape(-1, *x.shape[1:]), cols=8
    )

    steps, rows = 10, 8
    tiles = []
    for _ in range(rows):
        a = int(rng.integers(len(x_te)))
        pool = np.flatnonzero(y_te == y_te[a]) if cond else np.arange(len(x_te))
        b = int(rng.choice(pool))
        pair = x_te[[a, b]]
        yy = y_te[[a, b]] if cond else None
        mu = model.encode(pair, yy)[0]
        t = np.linspace(0, 1, steps, dtype=np.float32)[:, None]
        path = (1 - t) * mu[0] + t * mu[1]
        ypath = np.full(steps, y_te[a]) if cond else None
        tiles += [pair[:1], model.decode(path, ypath), pair[1:]]
    save_grid(str(out / "interpolations.png"), np.concatenate(tiles), cols=steps + 2)


def sampler_grid_name(sampler: str) -> str:
    return f"samples-{sampler.replace('+', '-')}.png"


def render_sampler_grids(model: Model) -> None:
    """samples-SAMPLER.png: what GET /sample?n=64&seed=GRID_SEED&sampler=SAMPLER returns."""
    bound, cap = drs_bound(model), MAX_DRS_PROPOSALS
    for name in SAMPLERS:
        out, _ = run_sampler(model, name, 64, GRID_SEED, bound, cap)
        save_grid(str(model.directory / sampler_grid_name(name)), out.images, cols=8)
