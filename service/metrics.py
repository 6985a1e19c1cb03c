"""Prometheus metrics (prefix ali_, base units); service/observe.py records the requests.

Each app gets its own CollectorRegistry so several apps (tests) don't collide. With several
worker processes, PROMETHEUS_MULTIPROC_DIR (set by the supervisor when unset, service/workers.py)
makes /metrics aggregate every worker's values
through prometheus-client's multiprocess collector (gauges use "livesum").
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import Scope

from service.batcher import BatchObserver

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LOAD_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
BATCH_BUCKETS = tuple(float(2**i) for i in range(10))  # 1, 2, 4, ... 512


def _multiproc() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class Metrics:
    def __init__(self) -> None:
        self.active_requests = 0  # plain counter for the batchers (the gauge may be multiprocess)
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        gauge_kw: dict[str, Any] = {"multiprocess_mode": "livesum"} if _multiproc() else {}
        self.requests = Counter(
            "ali_requests",
            "Requests by endpoint, status code (gRPC: the status name), the model and version "
            "that answered, and protocol (http, grpc)",
            ["endpoint", "code", "model", "version", "protocol"],
            registry=r,
        )
        self.requests_by_key = Counter(
            "ali_requests_by_key",
            "Requests to scoped routes by API key name (never the key) and status code",
            ["key", "code"],
            registry=r,
        )
        self.request_duration = Histogram(
            "ali_request_duration_seconds",
            "Request latency",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "ali_batch_size",
            "Rows per network call",
            ["model", "version", "network"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "ali_queue_wait_seconds",
            "Time rows wait in the batcher queue",
            ["model", "version", "network"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.inference = Histogram(
            "ali_inference_duration_seconds",
            "onnxruntime time per batch",
            ["model", "version", "network"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "ali_queue_depth",
            "Rows waiting in the batcher",
            ["model", "version", "network"],
            registry=r,
            **gauge_kw,
        )
        self.in_flight = Gauge(
            "ali_requests_in_flight", "Requests being handled", registry=r, **gauge_kw
        )
        self.model_info = Gauge(
            "ali_model_info",
            "Loaded model versions (value 1; 0 once released) with the provider that runs them",
            ["model", "version", "provider"],
            registry=r,
            **gauge_kw,
        )

        self.model_state = Gauge(
            "ali_model_state",
            "Model versions by load state (1 for the current state; summed over workers)",
            ["model", "version", "state"],
            registry=r,
            **gauge_kw,
        )
        self.model_load = Histogram(
            "ali_model_load_seconds",
            "Time to load, warm up and calibrate a model version",
            ["model"],
            buckets=LOAD_BUCKETS,
            registry=r,
        )

    def observer(self, model: str, version: str, network: str) -> BatchObserver:
        labels = {"model": model, "version": version, "network": network}
        size, inf = self.batch_size.labels(**labels), self.inference.labels(**labels)
        wait, depth = self.queue_wait.labels(**labels), self.queue_depth.labels(**labels)

        def batch(rows: int, seconds: float) -> None:
            size.observe(rows)
            inf.observe(seconds)

        return BatchObserver(batch=batch, queue_wait=wait.observe, depth=depth.set)

    def render(self) -> tuple[bytes, str]:
        if _multiproc():
            from prometheus_client import multiprocess

            reg = CollectorRegistry()
            multiprocess.MultiProcessCollector(reg)  # type: ignore[no-untyped-call]
            return generate_latest(reg), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def matched_route(scope: Scope) -> tuple[str, bool]:
    """The route template a request matched, and whether it is an API operation.

    API operations are the routes in the OpenAPI schema. The rest is the browser UI: the
    playground page and its files, /favicon.ico, /docs, /redoc and their assets, /openapi.json.
    Templates, not raw paths, keep the label set bounded (a 404 under a static mount is labelled
    with the mount). Unmatched paths count as operations, as they always have.
    """
    route = scope.get("route")  # FastAPI's APIRoute puts itself here
    if route is not None:
        return str(route.path), bool(getattr(route, "include_in_schema", True))
    endpoint = scope.get("endpoint")  # Starlette's Route (/openapi.json) and Mount (static files)
    if endpoint is not None:
        for r in getattr(scope.get("app"), "routes", ()):
            if endpoint is getattr(r, "endpoint", None) or endpoint is getattr(r, "app", None):
                return str(r.path), False
    return "unmatched", True
