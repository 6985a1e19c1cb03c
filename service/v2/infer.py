"""One v2 inference from request bytes to response bytes, shared by the FastAPI route
(service/routers/v2.py) and the ASGI fast path in front of it (service/v2/fast_path.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from service.errors import BadRequest
from service.inputs import parse_json
from service.settings import Settings
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
    if not raw.strip().isdigit():
        raise BadRequest(f"Inference-Header-Content-Length must be an integer >= 0, got {raw!r}")
    return int(raw)


async def infer(
    model: V2Model,
    body: bytes,
    content_encoding: str | None,
    head_length: int | None,
    settings: Settings,
) -> Answer:
    # The body limit (service/body_limit.py) has bounded what arrives; inflate bounds the rest.
    body = inflate(body, content_encoding, settings.max_body_bytes)
    header, binary = split_body(body, head_length)
    request = parse_json(header, InferRequest)
    feeds = decode_inputs(request, binary, model.inputs, settings.max_images)
    model.check_values(feeds)
    chosen = output_choice(request, [s.name for s in model.outputs])
    results = await model.infer(feeds)
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
