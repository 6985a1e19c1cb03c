"""One v2 inference from request bytes to response bytes, shared by the FastAPI route
(service/routers/v2.py) and the ASGI fast path in front of it (service/v2/fast_path.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from service.cpu_pool import INLINE_BYTES, INLINE_VALUES, CpuPool
from service.errors import BadRequest, quote
from service.inputs import parse_json
from service.settings import Settings
from service.tracing import child_span
from service.v2.catalog import V2Model
from service.v2.schemas import InferRequest, InferResponse
from service.v2.tensors import decode_inputs, encode_output, inflate, output_choice, split_body


@dataclass
class Answer:
    body: bytes
    media_type: str
    headers: dict[str, str] = field(default_factory=dict)


def header_length(raw: str | None) -> int | None:
    """The Inference-Header-Content-Length header: None if absent, 400 unless an integer >= 0."""
    if raw is None:
        return None
    text = raw.strip()
    # ASCII digits only (str.isdigit also takes "٣"), and no more than an int64 holds.
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise BadRequest(
            f"Inference-Header-Content-Length must be an integer >= 0, got {quote(raw)}"
        )
    return int(text)


async def infer(
    model: V2Model,
    body: bytes,
    content_encoding: str | None,
    head_length: int | None,
    settings: Settings,
    pool: CpuPool,
) -> Answer:
    """Parse, batch-infer, answer. Large bodies are parsed, and large JSON answers written, in
    the CPU pool (service/cpu_pool.py) rather than on the event loop."""
    heavy_in = len(body) > INLINE_BYTES or content_encoding is not None  # gzip may inflate
    with child_span("decode"):
        request, feeds, chosen = await pool.run_if(
            heavy_in, _parse, model, body, content_encoding, head_length, settings
        )
    results = await model.infer(feeds)
    json_values = sum(results[name].size for name, binary in chosen if not binary)
    with child_span("encode response"):
        return await pool.run_if(
            json_values > INLINE_VALUES, _answer, model, request, chosen, results
        )


def _parse(
    model: V2Model,
    body: bytes,
    content_encoding: str | None,
    head_length: int | None,
    settings: Settings,
) -> tuple[InferRequest, dict[str, np.ndarray], list[tuple[str, bool]]]:
    # The body limit (service/body_limit.py) has bounded what arrives; inflate bounds the rest.
    body = inflate(body, content_encoding, settings.max_body_bytes)
    header, binary = split_body(body, head_length)
    request = parse_json(header, InferRequest)
    feeds = decode_inputs(request, binary, model.inputs, settings.max_images)
    model.check_values(feeds)
    return request, feeds, output_choice(request, [s.name for s in model.outputs])


def _answer(
    model: V2Model,
    request: InferRequest,
    chosen: list[tuple[str, bool]],
    results: dict[str, np.ndarray],
) -> Answer:
    encoded = [encode_output(name, results[name], binary) for name, binary in chosen]
    head = InferResponse.model_construct(
        model_name=model.name,
        model_version=model.version,
        id=request.id,
        outputs=[out for out, _ in encoded],
    )
    json_bytes = head.model_dump_json(exclude_none=True).encode()
    if not any(binary for _, binary in chosen):
        return Answer(json_bytes, "application/json")
    return Answer(
        json_bytes + b"".join(raw for _, raw in encoded),
        "application/octet-stream",
        {"Inference-Header-Content-Length": str(len(json_bytes))},
    )
