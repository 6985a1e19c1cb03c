"""In-process throughput: onnxruntime sessions (the service's ceiling) and PyTorch eager."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from runtime.model import Model, load_model
from runtime.options import RuntimeOptions


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
    model = load_model(model_dir, RuntimeOptions())
    out: dict[str, dict] = {}
    for net in ("decoder", "encoder"):
        out[net] = {}
        for n in batches:
            f = feeds(model, net, n)
            times = timed(lambda net=net, f=f: model.networks[net].run(f), seconds)
            p50 = float(np.median(times))
            out[net][n] = {"images_per_s": n / p50, "p50_ms": p50 * 1000}
    return out


def ort_parallel_throughput(
    model_dir: Path, net: str, n: int, streams: int, seconds: float
) -> dict[str, float]:
    """images/s of `streams` threads calling one session at once, one intra-op thread each.

    The other way to use the cores (Triton's instance count): with the single-stream figure of
    `ort_throughput` it makes the raw ceiling the service is compared against.
    """
    model = load_model(model_dir, RuntimeOptions(intra_op_threads=1))
    network = model.networks[net]
    f = feeds(model, net, n)
    network.run(f)
    counts = [0] * streams
    start = time.perf_counter()
    stop_at = start + seconds

    def worker(i: int) -> None:
        while time.perf_counter() < stop_at:
            network.run(f)
            counts[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return {"streams": streams, "images_per_s": sum(counts) * n / elapsed}


def macs_per_image(graph: object, inputs: list) -> float:
    """Multiply-accumulates of the convolutions per image (forward hooks on one batch)."""
    import torch
    from torch import nn

    total = [0]

    def hook(m: nn.Module, i: tuple, o: torch.Tensor) -> None:
        if isinstance(m, nn.ConvTranspose2d):  # every input pixel meets the whole kernel
            total[0] += i[0].numel() * m.out_channels * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Conv2d):
            k = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
            total[0] += o.numel() * k

    assert isinstance(graph, nn.Module)
    handles = [m.register_forward_hook(hook) for m in graph.modules()]
    with torch.inference_mode():
        graph(*inputs)
    for h in handles:
        h.remove()
    return total[0] / inputs[0].shape[0]


def torch_vs_ort(preset_name: str, model_dir: Path, n: int, seconds: float) -> dict:
    """Same architecture, batch n: onnxruntime images/s ÷ PyTorch eager (inference mode) images/s.

    The PyTorch nets are built from the preset with fresh weights: speed does not depend on the
    weight values, and this keeps the benchmark runnable from a clone (checkpoints are not shipped).
    The decoder is also exported once without the sub-pixel rewrite (`training.onnx_rewrite`), so
    the rewrite's effect is measured in the same run ("decoder_plain_export").
    """
    import tempfile

    import onnxruntime as ort
    import torch

    from training.config import preset
    from training.export import OPSET, DecoderGraph, EncoderGraph, export_network
    from training.nets import build_networks

    model = load_model(model_dir, RuntimeOptions())
    mcfg, _ = preset(preset_name)
    if mcfg.nlat != model.manifest.latent.dim:
        raise ValueError(f"preset {preset_name} does not match {model_dir}")
    nets = build_networks(mcfg)
    graphs = {
        "decoder": DecoderGraph(nets.decoder).eval(),
        "encoder": EncoderGraph(nets.encoder).eval(),
    }
    plain = Path(tempfile.mkdtemp()) / "decoder_plain.onnx"
    export_network("decoder", nets.decoder.eval(), mcfg, plain, OPSET, rewrite=False)
    sess = model.networks["decoder"].session
    plain_sess = ort.InferenceSession(
        str(plain), sess.get_session_options(), providers=sess.get_providers()
    )
    out: dict[str, dict] = {"torch_threads": torch.get_num_threads()}
    for net, graph in graphs.items():
        f = feeds(model, net, n)
        tensors = [torch.from_numpy(v) for v in f.values()]

        def eager(graph=graph, tensors=tensors) -> None:
            with torch.inference_mode():
                graph(*tensors)

        ort_p50 = float(np.median(timed(lambda net=net, f=f: model.networks[net].run(f), seconds)))
        torch_p50 = float(np.median(timed(eager, seconds)))
        flops = 2 * macs_per_image(graph, tensors) * n  # per batch
        out[net] = _side_by_side(n, flops, ort_p50, torch_p50)
        if net == "decoder":
            plain_p50 = float(np.median(timed(lambda f=f: plain_sess.run(None, f), seconds)))
            out["decoder_plain_export"] = _side_by_side(n, flops, plain_p50, torch_p50)
    return out


def _side_by_side(n: int, flops: float, ort_p50: float, torch_p50: float) -> dict[str, float]:
    """Throughput, ratio and convolution GFLOP/s of one onnxruntime and one PyTorch timing."""
    return {
        "ort_images_per_s": n / ort_p50,
        "torch_images_per_s": n / torch_p50,
        "ratio": torch_p50 / ort_p50,
        "conv_gflop_per_image": flops / n / 1e9,
        "ort_gflops": flops / ort_p50 / 1e9,
        "torch_gflops": flops / torch_p50 / 1e9,
    }
