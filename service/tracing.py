"""OpenTelemetry traces, opt-in through the standard OTEL_* variables; off, they cost nothing.

`OTEL_TRACES_EXPORTER=otlp` (OTLP over HTTP/protobuf to `OTEL_EXPORTER_OTLP_ENDPOINT`, the
collector's :4318 by default) or `console` turns them on; `OTEL_SERVICE_NAME` names the service
(ali-service if unset), `OTEL_TRACES_SAMPLER` samples. The spans:

    POST /encode                  server span, parent taken from the request's `traceparent`
      ├─ decode                   image or JSON body decoding
      ├─ queue wait mnist/encoder the rows' wait in the batcher (one per batch the rows rode in)
      └─ encode response          PNG / JSON encoding of the answer
    infer mnist/encoder           one per batch model call, a root span *linked* to the request
                                  spans it served (a batch has many parents: links, not children)

When off, `Tracing.tracer` is None and the request path only tests that; the OpenTelemetry SDK is
not even imported.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from service.request_info import CURRENT, RequestInfo

EXPORTERS = ("otlp", "console", "none")
NAME = "ali-service"  # service.name unless OTEL_SERVICE_NAME says otherwise


class Tracing:
    def __init__(self, provider: Any = None) -> None:
        """`provider`: an opentelemetry.sdk TracerProvider, or None for tracing off."""
        self.provider = provider
        self.tracer: Any = provider.get_tracer("ali-service") if provider is not None else None
        self._propagator: Any = None
        if provider is not None:
            from opentelemetry.trace.propagation.tracecontext import (
                TraceContextTextMapPropagator,
            )

            self._propagator = TraceContextTextMapPropagator()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Tracing:
        name = environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower() or "none"
        if name not in EXPORTERS:
            raise ValueError(f"OTEL_TRACES_EXPORTER={name!r}: this service knows {EXPORTERS}")
        if name == "none":
            return cls(None)
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

        exporter: Any
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()  # endpoint, headers, timeout from OTEL_EXPORTER_OTLP_*
        else:
            exporter = ConsoleSpanExporter()
        # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; the attributes
        # given here would override them, so the default name is only given when neither is set.
        named = "OTEL_SERVICE_NAME" in environ or "service.name" in environ.get(
            "OTEL_RESOURCE_ATTRIBUTES", ""
        )
        provider = tracer_provider(Resource.create({} if named else {"service.name": NAME}))
        provider.add_span_processor(BatchSpanProcessor(exporter))
        return cls(provider)

    @property
    def enabled(self) -> bool:
        return self.tracer is not None

    def start_request(self, info: RequestInfo, method: str, traceparent: str | None) -> None:
        """Open the request's server span (a child of the caller's, if it sent `traceparent`)."""
        from opentelemetry.trace import SpanKind

        parent = self._propagator.extract({"traceparent": traceparent}) if traceparent else None
        span = self.tracer.start_span(
            method, context=parent, kind=SpanKind.SERVER, attributes={"ali.request_id": info.id}
        )
        if span.is_recording():  # not sampled: no child, queue or batch spans either
            info.tracer, info.span = self.tracer, span

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()  # flushes the batch processor


def _parent(span: Any) -> Any:
    from opentelemetry.trace import set_span_in_context

    return set_span_in_context(span)


def tracer_provider(resource: Any = None, sampler: Any = None) -> Any:
    """An SDK TracerProvider whose sampler (OTEL_TRACES_SAMPLER's unless given) also keeps
    every batch span linked to a sampled request.

    A batch span is a root (its requests are links, not parents), so a ratio sampler alone would
    keep 1 % of the batch spans of the 1 % of requests it keeps: almost none."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

    class KeepLinkedBatches(Sampler):
        def __init__(self, inner: Sampler) -> None:
            self.inner = inner

        def should_sample(
            self,
            parent_context: Any,
            trace_id: int,
            name: str,
            kind: Any = None,
            attributes: Any = None,
            links: Any = None,
            trace_state: Any = None,
        ) -> SamplingResult:
            if links and any(link.context.trace_flags.sampled for link in links):
                return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)
            return self.inner.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )

        def get_description(self) -> str:
            return f"KeepLinkedBatches{{{self.inner.get_description()}}}"

    if sampler is None:  # the one OTEL_TRACES_SAMPLER names (parentbased_always_on unset)
        sampler = TracerProvider(shutdown_on_exit=False).sampler
    return TracerProvider(sampler=KeepLinkedBatches(sampler), resource=resource)


_OFF = contextlib.nullcontext()  # reusable: what child_span costs when the request is not traced


def child_span(name: str) -> contextlib.AbstractContextManager[Any]:
    """A span under the current request's span; nothing when it is not traced."""
    info = CURRENT.get()
    if info is None or info.span is None:
        return _OFF
    span: contextlib.AbstractContextManager[Any] = info.tracer.start_as_current_span(
        name, context=_parent(info.span)
    )
    return span


def epoch_ns(perf_counter_s: float) -> int:
    """A time.perf_counter() reading as Unix-epoch nanoseconds, the clock spans use."""
    return time.time_ns() - int((time.perf_counter() - perf_counter_s) * 1e9)


def batch_spans(
    name: str,
    batch_id: str,
    rows: int,
    traced: Sequence[tuple[RequestInfo, float]],
    started: float,
) -> Any:
    """For a batch about to run: each traced request's queue-wait span (its rows' enqueue time
    -> `started`, both perf_counter seconds) and the batch's own span, linked to every request
    span it serves. Returns the batch span, which the caller ends."""
    from opentelemetry.context import Context
    from opentelemetry.trace import Link

    start_ns = epoch_ns(started)
    for info, enqueued in traced:
        wait = info.tracer.start_span(
            f"queue wait {name}", context=_parent(info.span), start_time=epoch_ns(enqueued)
        )
        wait.set_attribute("ali.batch.id", batch_id)
        wait.end(end_time=start_ns)
    tracer = traced[0][0].tracer
    return tracer.start_span(
        f"infer {name}",
        context=Context(),  # a root: its requests are links
        links=[Link(info.span.get_span_context()) for info, _ in traced],
        start_time=start_ns,
        attributes={"ali.batch.id": batch_id, "ali.batch.rows": rows},
    )
