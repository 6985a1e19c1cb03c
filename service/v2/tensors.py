"""v2 tensors <-> numpy: JSON `data` and the binary tensor data extension, checked against the graph.

A request body is a JSON header, then (binary extension) the raw inputs in the order of `inputs`:

    [JSON: Inference-Header-Content-Length bytes][input with binary_data_size=n0: n0 bytes]...

Raw tensors are little-endian and row-major. A response with any output asked for as binary has
the same layout, with `parameters.binary_data_size` on those outputs. Every check runs before
anything is queued, so a bad request never reaches (or fails) a shared batch.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.errors import BadRequest, PayloadTooLarge, quote
from service.v2.schemas import InferRequest, RequestInput, ResponseOutput

DTYPES: dict[str, np.dtype[Any]] = {
    name: np.dtype(code)
    for name, code in {
        "BOOL": "?", "UINT8": "<u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8",
        "INT8": "<i1", "INT16": "<i2", "INT32": "<i4", "INT64": "<i8",
        "FP16": "<f2", "FP32": "<f4", "FP64": "<f8",
    }.items()
}  # fmt: skip
ONNX_TYPES = {
    "tensor(bool)": "BOOL", "tensor(uint8)": "UINT8", "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32", "tensor(uint64)": "UINT64", "tensor(int8)": "INT8",
    "tensor(int16)": "INT16", "tensor(int32)": "INT32", "tensor(int64)": "INT64",
    "tensor(float16)": "FP16", "tensor(float)": "FP32", "tensor(double)": "FP64",
}  # fmt: skip


def datatype_of(dtype: np.dtype[Any]) -> str:
    for name, dt in DTYPES.items():
        if dt == dtype:
            return name
    raise ValueError(f"no v2 datatype for numpy {dtype}")


@dataclass(frozen=True)
class TensorSpec:
    """A graph input or output: v2 datatype and shape, -1 where the graph leaves a dim free."""

    name: str
    datatype: str
    shape: tuple[int, ...]


# ---- requests --------------------------------------------------------------------------------
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}  # tritonclient's two


def inflate(body: bytes, encoding: str | None, limit: int) -> bytes:
    """A Content-Encoding gzip/deflate body, decompressed to at most `limit` bytes."""
    if not encoding or encoding == "identity":
        return body
    if encoding not in _WBITS:
        raise BadRequest(f"Content-Encoding {quote(encoding)} is not supported (gzip, deflate)")
    d = zlib.decompressobj(_WBITS[encoding])
    try:
        out = d.decompress(body, limit + 1)
    except zlib.error as e:
        raise BadRequest(f"the {encoding} body cannot be decompressed: {e}") from None
    if len(out) > limit:
        raise PayloadTooLarge(f"the decompressed body exceeds the limit of {limit} bytes")
    if not d.eof:
        raise BadRequest(f"the {encoding} body is truncated")
    return out


def split_body(body: bytes, header_length: int | None) -> tuple[bytes, memoryview]:
    """The JSON header and the binary part (empty without Inference-Header-Content-Length)."""
    if header_length is None:
        return body, memoryview(b"")
    if header_length > len(body):
        raise BadRequest(
            f"Inference-Header-Content-Length is {header_length} but the body has only "
            f"{len(body)} bytes"
        )
    return body[:header_length], memoryview(body)[header_length:]


def decode_inputs(
    request: InferRequest, binary: memoryview, specs: list[TensorSpec], max_rows: int
) -> dict[str, np.ndarray]:
    """The request's inputs as graph feeds {name: [N, ...]}, all checked against `specs`."""
    by_name = {s.name: s for s in specs}
    feeds: dict[str, np.ndarray] = {}
    offset = 0
    for tensor in request.inputs:
        spec = input_spec(tensor.name, by_name, feeds)
        _check_header(tensor, spec, max_rows)
        params = tensor.parameters
        size = params.binary_data_size if params else None
        if size is not None:
            if tensor.data is not None:
                raise BadRequest(f"input {quote(tensor.name)} has both data and binary_data_size")
            arr = _from_binary(tensor, binary[offset : offset + size], size)
            offset += size
        elif tensor.data is not None:
            arr = _from_json(tensor)
        else:
            raise BadRequest(f"input {quote(tensor.name)} has no data (nor binary_data_size)")
        feeds[tensor.name] = arr
    if offset != len(binary):
        raise BadRequest(
            f"the body has {len(binary)} bytes after the JSON header but the inputs' "
            f"binary_data_size add up to {offset}"
        )
    check_feeds(feeds, specs)
    return feeds


def input_spec(
    name: str, by_name: dict[str, TensorSpec], feeds: dict[str, np.ndarray]
) -> TensorSpec:
    """The graph input a request's tensor names (400 if none, or if given twice)."""
    spec = by_name.get(name)
    if spec is None:
        known = names_of(list(by_name.values()))
        raise BadRequest(f"unknown input {quote(name)}; the model takes {known}")
    if name in feeds:
        raise BadRequest(f"input {quote(name)} is given twice")
    return spec


def check_feeds(feeds: dict[str, np.ndarray], specs: list[TensorSpec]) -> None:
    """Every input given, finite, and the same number of rows in each (REST and gRPC)."""
    for name, arr in feeds.items():
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise BadRequest(f"input {quote(name)} has NaN or infinite values")
    missing = [s.name for s in specs if s.name not in feeds]
    if missing:
        raise BadRequest(f"missing inputs {missing}; the model takes {names_of(specs)}")
    rows = {name: a.shape[0] for name, a in feeds.items()}
    if len(set(rows.values())) > 1:
        raise BadRequest(f"inputs disagree on the batch size (first dim): {rows}")


def names_of(specs: list[TensorSpec]) -> str:
    return ", ".join(f"{s.name} {s.datatype} {list(s.shape)}" for s in specs)


def _check_header(tensor: RequestInput, spec: TensorSpec, max_rows: int) -> None:
    check_tensor(tensor.name, tensor.datatype, tensor.shape, spec, max_rows)
    extra = (tensor.parameters.model_extra if tensor.parameters else None) or {}
    if any(k.startswith("shared_memory") for k in extra):
        raise BadRequest("shared memory inputs are not supported; send data or binary data")


def check_tensor(
    name: str, datatype: str, shape: list[int], spec: TensorSpec, max_rows: int
) -> None:
    """An input's datatype and shape against the graph's, and its rows against the limit."""
    if datatype != spec.datatype:
        raise BadRequest(f"input {quote(name)} is {spec.datatype}; got datatype {datatype}")
    fits = len(shape) == len(spec.shape) and all(
        want in (-1, got) for got, want in zip(shape, spec.shape, strict=True)
    )
    if not fits:
        raise BadRequest(f"input {quote(name)} has shape {list(spec.shape)}; got {shape}")
    if shape[0] < 1:
        raise BadRequest(f"input {quote(name)} has no rows (shape {shape})")
    if shape[0] > max_rows:
        raise PayloadTooLarge(f"{shape[0]} rows; the limit is {max_rows} per request")


def _from_binary(tensor: RequestInput, raw: memoryview, size: int) -> np.ndarray:
    dtype = DTYPES[tensor.datatype]
    need = math.prod(tensor.shape) * dtype.itemsize
    if size != need:
        raise BadRequest(
            f"input {quote(tensor.name)}: binary_data_size is {size} bytes; shape {tensor.shape} of "
            f"{tensor.datatype} is {need} bytes"
        )
    if len(raw) < size:
        raise BadRequest(
            f"the body is truncated: input {quote(tensor.name)} needs {size} bytes, {len(raw)} remain"
        )
    # astype: a native-order, writable copy (the body buffer is read-only)
    return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("=")).reshape(tensor.shape)


def _from_json(tensor: RequestInput) -> np.ndarray:
    name, count = tensor.name, math.prod(tensor.shape)
    try:
        values = np.asarray(tensor.data)
    except (ValueError, TypeError, OverflowError):  # ragged nesting, mixed huge ints
        raise BadRequest(
            f"input {quote(name)}: data is not a regular (flat or nested) list"
        ) from None
    if values.dtype.kind not in "biuf":
        raise BadRequest(f"input {quote(name)}: data must be numbers (or booleans for BOOL)")
    if values.size != count:
        raise BadRequest(
            f"input {quote(name)}: {values.size} values for shape {tensor.shape} ({count} elements)"
        )
    dtype = DTYPES[tensor.datatype].newbyteorder("=")
    accepted = {"b": "b", "i": "iu", "u": "iu", "f": "iuf"}[dtype.kind]
    if values.dtype.kind not in accepted:
        kind = {"b": "booleans", "i": "integers", "u": "integers", "f": "numbers"}[dtype.kind]
        raise BadRequest(f"input {quote(name)} is {tensor.datatype}: data must be {kind}")
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if values.min() < info.min or values.max() > info.max:
            raise BadRequest(f"input {quote(name)}: values out of range for {tensor.datatype}")
    with np.errstate(over="ignore", invalid="ignore"):  # overflow to inf is caught by the caller
        return values.astype(dtype).reshape(tensor.shape)


# ---- responses -------------------------------------------------------------------------------
def output_choice(request: InferRequest, names: list[str]) -> list[tuple[str, bool]]:
    """(output name, as binary) for each output to return, in the order asked for."""
    default = bool(request.parameters and request.parameters.binary_data_output)
    if request.outputs is None:
        return [(n, default) for n in names]
    chosen: list[tuple[str, bool]] = []
    for out in request.outputs:
        if out.name not in names:
            raise BadRequest(f"unknown output {quote(out.name)}; the model has {names}")
        params = out.parameters
        if params is not None and params.model_extra and "classification" in params.model_extra:
            raise BadRequest("the classification extension is not supported")
        binary = params.binary_data if params and params.binary_data is not None else default
        chosen.append((out.name, binary))
    return chosen


def encode_output(name: str, array: np.ndarray, binary: bool) -> tuple[ResponseOutput, bytes]:
    """One output as response JSON (+ its raw little-endian bytes when binary, else b"")."""
    datatype = datatype_of(array.dtype.newbyteorder("<"))
    shape = list(array.shape)
    if binary:
        raw = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
        params = {"binary_data_size": len(raw)}
        out = ResponseOutput.model_construct(
            name=name, shape=shape, datatype=datatype, parameters=params
        )
        return out, raw
    flat = array.ravel()
    data: list[Any] = flat.tolist()
    if flat.dtype.kind == "f" and not np.isfinite(flat).all():  # JSON has no NaN or inf
        data = [v if math.isfinite(v) else None for v in data]
    # model_construct: these lists can be long and are right by construction (no validation)
    return ResponseOutput.model_construct(name=name, shape=shape, datatype=datatype, data=data), b""
