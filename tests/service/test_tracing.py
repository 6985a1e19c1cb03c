"""Traces (service/tracing.py) through the real app, exported to the SDK's in-memory exporter."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from service.app import create_app
from service.tracing import Tracing, tracer_provider
from tests.service.conftest import make_settings, png

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


@pytest.fixture()
def traced(model_dir: Path) -> Iterator[tuple[TestClient, InMemorySpanExporter]]:
    yield from _traced_app(model_dir, None)


@pytest.fixture()
def sampled_by_parent_only(model_dir: Path) -> Iterator[tuple[TestClient, InMemorySpanExporter]]:
    """A sampler that keeps nothing of its own accord (ratio 0) but follows a sampled parent."""
    yield from _traced_app(model_dir, ParentBased(TraceIdRatioBased(0.0)))


def _traced_app(
    model_dir: Path, sampler: object
) -> Iterator[tuple[TestClient, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = tracer_provider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # a long max wait, so two requests sent together ride in one batch
    app = create_app(make_settings(model_dir, max_wait_ms=500.0), tracing=Tracing(provider))
    with TestClient(app) as client:
        exporter.clear()  # start-up work (warm-up, DRS calibration) is not a request
        yield client, exporter


def test_a_request_with_traceparent_is_traced_in_that_trace(traced) -> None:
    client, exporter = traced
    r = client.post(
        "/encode",
        files={"images": ("a.png", png())},
        headers={"traceparent": f"00-{TRACE}-{PARENT}-01"},
    )
    assert r.status_code == 200 and r.headers["x-request-id"] == TRACE
    spans = exporter.get_finished_spans()
    in_trace = {s.name: s for s in spans if format(s.context.trace_id, "032x") == TRACE}
    server = in_trace["POST /encode"]
    assert format(server.parent.span_id, "016x") == PARENT  # the caller's span is the parent
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["ali.model"] == "tiny"
    for child in ("decode", "queue wait tiny/encoder"):
        assert in_trace[child].parent.span_id == server.context.span_id, child
    # the batch's span is its own root, linked to the request
    (batch,) = [s for s in spans if s.name == "infer tiny/encoder"]
    assert batch.parent is None
    assert [link.context.span_id for link in batch.links] == [server.context.span_id]


def test_requests_sharing_a_batch_get_one_batch_span_linked_to_both(traced) -> None:
    client, exporter = traced

    async def both() -> list[httpx.Response]:
        # On the app's own event loop (TestClient's portal), so both requests are in flight
        # before the batcher decides: it waits for every request being handled to queue.
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as ac:
            return list(await asyncio.gather(ac.get("/sample?n=2"), ac.get("/sample?n=2")))

    answers = client.portal.call(both)
    assert [r.status_code for r in answers] == [200, 200]
    spans = exporter.get_finished_spans()
    servers = [s for s in spans if s.name == "GET /sample"]
    batches = [s for s in spans if s.name == "infer tiny/decoder"]
    assert len(servers) == 2
    assert len(batches) == 1, [b.attributes for b in batches]
    (batch,) = batches
    assert batch.attributes["ali.batch.rows"] == 4
    linked = {link.context.span_id for link in batch.links}
    assert linked == {s.context.span_id for s in servers}
    # two separate traces (no traceparent: each request starts its own)
    assert len({s.context.trace_id for s in servers}) == 2


def test_a_sampled_request_keeps_its_batch_span_unsampled_ones_make_none(
    sampled_by_parent_only,
) -> None:
    client, exporter = sampled_by_parent_only
    assert client.get("/sample?n=2").status_code == 200  # no traceparent: not sampled
    assert exporter.get_finished_spans() == ()
    r = client.get("/sample?n=2", headers={"traceparent": f"00-{TRACE}-{PARENT}-01"})
    assert r.status_code == 200
    names = sorted(s.name for s in exporter.get_finished_spans())
    # the batch span is a root that the ratio (0) alone would drop: kept for its sampled link
    assert names == [
        "GET /sample",
        "encode response",
        "infer tiny/decoder",
        "queue wait tiny/decoder",
    ]


def test_tracing_off_makes_no_spans_and_imports_no_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from service.tracing import Tracing; t = Tracing.from_env({}); "
        "assert not t.enabled; "
        "assert not [m for m in sys.modules if m.startswith('opentelemetry.sdk')], 'sdk imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_exporter_is_refused() -> None:
    with pytest.raises(ValueError, match="OTEL_TRACES_EXPORTER"):
        Tracing.from_env({"OTEL_TRACES_EXPORTER": "zipkin"})
