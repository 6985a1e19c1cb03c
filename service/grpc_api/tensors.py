"""gRPC tensors <-> numpy: `raw_input_contents` (little-endian bytes, one entry per input) or
typed `contents`, checked against the graph with the same rules as REST (service/v2/tensors.py).

An answer uses the form its request used: raw bytes for raw inputs (what tritonclient sends and
reads), typed contents for typed ones (KServe's clients), raw for an output with no typed field.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from service.errors import BadRequest, quote
from service.grpc_api import inference_pb2 as pb
from service.v2.tensors import (
    DTYPES,
    TensorSpec,
    check_feeds,
    check_tensor,
    datatype_of,
    input_spec,
)

# datatype -> the InferTensorContents field that carries it (FP16 has none: raw only)
CONTENTS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
}


def decode_inputs(
    request: pb.ModelInferRequest, specs: list[TensorSpec], max_rows: int
) -> tuple[dict[str, np.ndarray], bool]:
    """The request's inputs as graph feeds {name: [N, ...]}, and whether they came raw."""
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise BadRequest(
            f"{len(raw)} raw_input_contents for {len(request.inputs)} inputs: give one per input"
        )
    by_name = {s.name: s for s in specs}
    feeds: dict[str, np.ndarray] = {}
    for i, tensor in enumerate(request.inputs):
        spec = input_spec(tensor.name, by_name, feeds)
        shape = list(tensor.shape)
        check_tensor(tensor.name, tensor.datatype, shape, spec, max_rows)
        if any(k.startswith("shared_memory") for k in tensor.parameters):
            raise BadRequest("shared memory inputs are not supported; send the tensor's contents")
        has_typed = tensor.HasField("contents")
        if raw:
            if has_typed:
                raise BadRequest(f"input {quote(tensor.name)} has both contents and raw contents")
            feeds[tensor.name] = _from_raw(tensor.name, tensor.datatype, shape, raw[i])
        elif has_typed:
            feeds[tensor.name] = _from_typed(tensor, shape)
        else:
            raise BadRequest(f"input {quote(tensor.name)} has no contents (nor raw contents)")
    check_feeds(feeds, specs)
    return feeds, bool(raw)


def _from_raw(name: str, datatype: str, shape: list[int], data: bytes) -> np.ndarray:
    dtype = DTYPES[datatype]
    need = math.prod(shape) * dtype.itemsize
    if len(data) != need:
        raise BadRequest(
            f"input {quote(name)}: {len(data)} raw bytes; shape {shape} of {datatype} is {need}"
        )
    # astype: a native-order, writable copy (the message's bytes are read-only)
    return np.frombuffer(data, dtype=dtype).astype(dtype.newbyteorder("=")).reshape(shape)


def _from_typed(tensor: Any, shape: list[int]) -> np.ndarray:
    name, datatype = tensor.name, tensor.datatype
    field = CONTENTS.get(datatype)
    if field is None:
        raise BadRequest(f"input {quote(name)} is {datatype}: send it as raw_input_contents")
    others = [f.name for f, _ in tensor.contents.ListFields() if f.name != field]
    if others:
        raise BadRequest(
            f"input {quote(name)} is {datatype}: its values go in {field}, not {others}"
        )
    values = getattr(tensor.contents, field)
    count = math.prod(shape)
    if len(values) != count:
        raise BadRequest(f"input {quote(name)}: {len(values)} values for shape {shape} ({count})")
    dtype = DTYPES[datatype].newbyteorder("=")
    if dtype.kind in "iu" and dtype.itemsize < 4:  # carried in 32-bit fields: check the range
        wide = np.array(values, np.int64)
        info = np.iinfo(dtype)
        if count and (wide.min() < info.min or wide.max() > info.max):
            raise BadRequest(f"input {quote(name)}: values out of range for {datatype}")
        return wide.astype(dtype).reshape(shape)
    return np.array(values, dtype).reshape(shape)


def output_names(request: pb.ModelInferRequest, names: list[str]) -> list[str]:
    if not request.outputs:
        return names
    chosen = []
    for out in request.outputs:
        if out.name not in names:
            raise BadRequest(f"unknown output {quote(out.name)}; the model has {names}")
        if "classification" in out.parameters:
            raise BadRequest("the classification extension is not supported")
        chosen.append(out.name)
    return chosen


def encode_response(
    response: pb.ModelInferResponse, outputs: dict[str, np.ndarray], raw: bool
) -> pb.ModelInferResponse:
    """`outputs` into `response`, raw or typed (typed falls back to raw for FP16)."""
    arrays = {n: np.ascontiguousarray(a, a.dtype.newbyteorder("<")) for n, a in outputs.items()}
    types = {n: datatype_of(a.dtype) for n, a in arrays.items()}
    raw = raw or any(t not in CONTENTS for t in types.values())
    for name, array in arrays.items():
        out = response.outputs.add(name=name, datatype=types[name], shape=array.shape)
        if raw:
            response.raw_output_contents.append(array.tobytes())
        else:
            getattr(out.contents, CONTENTS[types[name]]).extend(array.ravel().tolist())
    return response
