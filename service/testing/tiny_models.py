"""Tiny ALI-shaped ONNX models built with onnx.helper (no torch), plus their manifests.

encoder: x [N, C, H, W] (+ y) -> mu, log_sigma [N, d]   (linear maps of the flattened image)
decoder: z [N, d] (+ y) -> x [N, C, H, W]                (tanh of a linear map)
discriminator: x, z (+ y) -> logit [N]
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from runtime.manifest import (
    MANIFEST_VERSION,
    ImageSpec,
    LatentSpec,
    Manifest,
    PixelRange,
    TrainingSummary,
    file_ref,
    write_manifest,
)
from runtime.repository import publish_version

OPSET = 17


def _init(name: str, arr: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(arr, name)


def _save(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    inits: list[onnx.TensorProto],
    path: Path,
) -> None:
    graph = helper.make_graph(nodes, path.stem, inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


LabelTerms = tuple[
    list[onnx.ValueInfoProto], list[onnx.NodeProto], list[onnx.TensorProto], str | None
]


def _label_terms(
    conditional: bool, classes: int, width: int, rng: np.random.Generator, prefix: str
) -> LabelTerms:
    """Optional y input and a Gather of a [classes, width] table -> [N, width]."""
    if not conditional:
        return [], [], [], None
    table = rng.standard_normal((classes, width)).astype(np.float32)
    y = helper.make_tensor_value_info("y", TensorProto.INT64, ["batch"])
    node = helper.make_node("Gather", [f"{prefix}_table", "y"], [f"{prefix}_emb"], axis=0)
    return [y], [node], [_init(f"{prefix}_table", table)], f"{prefix}_emb"


def make_tiny_model(
    root: Path,
    name: str = "tiny",
    conditional: bool = False,
    channels: int = 1,
    size: int = 8,
    nlat: int = 4,
    classes: int = 10,
    seed: int = 0,
    version: str = "1",
    out: Path | None = None,
) -> Path:
    """Model `name` in `root/name` (the layout before versions), or in the folder `out`."""
    rng = np.random.default_rng(seed)
    d_in = channels * size * size
    out = out or root / name
    out.mkdir(parents=True, exist_ok=True)
    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", channels, size, size])
    z_info = helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", nlat])

    # encoder
    y_in, y_nodes, y_init, emb = _label_terms(conditional, classes, 2 * nlat, rng, "enc")
    nodes = [
        helper.make_node("Flatten", ["x"], ["xf"], axis=1),
        helper.make_node("Gemm", ["xf", "We", "be"], ["h0"]),
    ]
    h = "h0"
    if emb:
        nodes += y_nodes + [helper.make_node("Add", [h, emb], ["h1"])]
        h = "h1"
    nodes.append(helper.make_node("Split", [h, "split"], ["mu", "log_sigma"], axis=1))
    inits = [
        _init("We", (rng.standard_normal((d_in, 2 * nlat)) * 0.1).astype(np.float32)),
        _init("be", np.zeros(2 * nlat, np.float32)),
        _init("split", np.array([nlat, nlat], np.int64)),
        *y_init,
    ]
    outs = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", nlat])
        for n in ("mu", "log_sigma")
    ]
    _save(nodes, [x_info, *y_in], outs, inits, out / "encoder.onnx")

    # decoder
    y_in, y_nodes, y_init, emb = _label_terms(conditional, classes, d_in, rng, "dec")
    nodes = [helper.make_node("Gemm", ["z", "Wd", "bd"], ["g0"])]
    g = "g0"
    if emb:
        nodes += y_nodes + [helper.make_node("Add", [g, emb], ["g1"])]
        g = "g1"
    nodes += [
        helper.make_node("Tanh", [g], ["t"]),
        helper.make_node("Reshape", ["t", "shape"], ["x"]),
    ]
    inits = [
        _init("Wd", rng.standard_normal((nlat, d_in)).astype(np.float32)),
        _init("bd", np.zeros(d_in, np.float32)),
        _init("shape", np.array([-1, channels, size, size], np.int64)),
        *y_init,
    ]
    x_out = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", channels, size, size])
    _save(nodes, [z_info, *y_in], [x_out], inits, out / "decoder.onnx")

    # discriminator
    y_in, y_nodes, y_init, emb = _label_terms(conditional, classes, 1, rng, "dis")
    nodes = [
        helper.make_node("Flatten", ["x"], ["xf"], axis=1),
        helper.make_node("MatMul", ["xf", "Wx"], ["a"]),
        helper.make_node("MatMul", ["z", "Wz"], ["b"]),
        helper.make_node("Add", ["a", "b"], ["s"]),
    ]
    s = "s"
    if emb:
        nodes += y_nodes + [helper.make_node("Add", [s, emb], ["s2"])]
        s = "s2"
    nodes.append(helper.make_node("Squeeze", [s, "axes"], ["logit"]))
    inits = [
        _init("Wx", rng.standard_normal((d_in, 1)).astype(np.float32)),
        _init("Wz", rng.standard_normal((nlat, 1)).astype(np.float32)),
        _init("axes", np.array([1], np.int64)),
        *y_init,
    ]
    logit = helper.make_tensor_value_info("logit", TensorProto.FLOAT, ["batch"])
    x_in = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", channels, size, size])
    _save(nodes, [x_in, z_info, *y_in], [logit], inits, out / "discriminator.onnx")

    manifest = Manifest(
        manifest_version=MANIFEST_VERSION,
        name=name,
        version=version,
        created=datetime.now(timezone.utc),
        conditional=conditional,
        image=ImageSpec(channels=channels, height=size, width=size),
        pixels=PixelRange(),
        latent=LatentSpec(dim=nlat),
        classes=[str(i) for i in range(classes)] if conditional else [],
        opset=OPSET,
        files={n: file_ref(out / f"{n}.onnx") for n in ("encoder", "decoder", "discriminator")},
        training=TrainingSummary(
            dataset="none",
            preset="tiny",
            epochs=0,
            seed=seed,
            git_commit="test",
            command="service/testing/tiny_models.py",
        ),
    )
    write_manifest(manifest, out)
    return out


def publish_tiny(root: Path, name: str, seed: int = 0, version: str | None = None) -> Path:
    """A tiny model published as the next (or the given) version of `name`, as ali-export does;
    a different seed gives different weights, so answers tell versions apart."""
    with publish_version(root, name, version) as (folder, v):
        make_tiny_model(root, name, seed=seed, version=v, out=folder)
    return root / name / v
