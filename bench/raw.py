"""In-process throughput: onnxruntime sessions (the service's ceiling) and PyTorch eager."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from service.runtime import Model, load_model
from service.settings import Settings


def timed(fn: Callable[[], object], min_seconds: float, min_reps: int = 3) -> list[float]:
    """Call fn repeatedly (after one warm-up) for at least min_seconds; per-call seconds."""
    fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def feeds(model: Model, network: str, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    m = model.manifest
    f = model.example_feeds(network, n)
    if "x" in f:
        f["x"] = rng.uniform(-1, 1, f["x"].shape).astype(np.float32)
    if "z" in f:
        f["z"] = rng.standard_normal(f["z"].shape).astype(np.float32)
    if "y" in f:
        f["y"] = rng.integers(0, m.num_classes, n).astype(np.int64)
    return f


def ort_throughput(model_dir: Path, batches: tuple[int, ...], seconds: float) -> dict[str, dict]:
    """images/s and p50 latency per network and batch size."""
    model = load_model(model_dir, Settings())
    out: dict[str, dict] = {}
    for net in ("decoder", "encoder"):
        out[net] = {}
        for n in batches:
            f = feeds(model, net, n)
            times = timed(lambda net=net, f=f: model.networks[net].run(f), seconds)
            p50 = float(np.median(times))
            out[net][n] = {"images_per_s": n / p50, "p50_ms": p50 * 1000}
    return out


def torch_vs_ort(preset_name: str, model_dir: Path, n: int, seconds: float) -> dict:
    """Same architecture, batch n: onnxruntime images/s ÷ PyTorch eager (inference mode) images/s.

    The PyTorch nets are built from the preset with fresh weights: speed does not depend on the
    weight values, and this keeps the benchmark runnable from a clone (checkpoints are not shipped).
    """
    import torch

    from training.config import preset
    from training.export import DecoderGraph, EncoderGraph
    from training.nets import build_networks

    model = load_model(model_dir, Settings())
    mcfg, _ = preset(preset_name)
    if mcfg.nlat != model.manifest.latent.dim:
        raise ValueError(f"preset {preset_name} does not match {model_dir}")
    nets = build_networks(mcfg)
    graphs = {
        "decoder": DecoderGraph(nets.decoder).eval(),
        "encoder": EncoderGraph(nets.encoder).eval(),
    }
    out: dict[str, dict] = {"torch_threads": torch.get_num_threads()}
    for net, graph in graphs.items():
        f = feeds(model, net, n)
        tensors = [torch.from_numpy(v) for v in f.values()]

        def eager(graph=graph, tensors=tensors) -> None:
            with torch.inference_mode():
                graph(*tensors)

        ort_p50 = float(np.median(timed(lambda net=net, f=f: model.networks[net].run(f), seconds)))
        torch_p50 = float(np.median(timed(eager, seconds)))
        out[net] = {
            "ort_images_per_s": n / ort_p50,
            "torch_images_per_s": n / torch_p50,
            "ratio": torch_p50 / ort_p50,
        }
    return out
