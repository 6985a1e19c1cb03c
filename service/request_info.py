"""What is known about the request being handled: its id, model, batches and trace span.

The outermost middleware (service/observe.py) makes one RequestInfo per HTTP request and puts it
in a context variable; the registry notes the model, the batcher the batches the request's rows
rode in (from its own task, through the reference each queued item keeps), and at the end the
middleware writes it to the access log. Logging reads the id from here for every line written
while the request is handled (service/logs.py).
"""

from __future__ import annotations

import itertools
import os
import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

# A client's X-Request-ID is echoed and logged, so only a bounded, plain token is taken as is;
# anything else is replaced by a fresh id rather than written into the logs.
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
# W3C traceparent: version-traceid-parentid-flags; a trace id of all zeros is invalid.
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


def request_id(client_id: str | None, traceparent: str | None) -> str:
    """The client's X-Request-ID if it is a plain token, else the trace id of a valid
    `traceparent` (so logs and traces share the id), else a new id: 32 hex digits, this
    process's random prefix and a counter (unique without a system call per request)."""
    if client_id and _CLIENT_ID.fullmatch(client_id):
        return client_id
    m = _TRACEPARENT.fullmatch(traceparent.strip()) if traceparent else None
    if m and m.group(1) != "0" * 32:
        return m.group(1)
    return f"{_PREFIX}{next(_COUNTER):016x}"


_PREFIX = os.urandom(8).hex()
_COUNTER = itertools.count(1)


def _new_prefix() -> None:  # a forked worker must not repeat its parent's ids
    global _PREFIX
    _PREFIX = os.urandom(8).hex()


os.register_at_fork(after_in_child=_new_prefix)


@dataclass
class RequestInfo:
    id: str
    model: str | None = None
    version: str | None = None
    queue_wait_s: float = 0.0  # summed over every batch the request's rows rode in
    batch_ids: list[str] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)  # rows of each of those batches
    span: Any = None  # the request's OpenTelemetry span when tracing is on (service/tracing.py)
    tracer: Any = None  # and the tracer that made it, for child spans
    leases: list[Any] = field(default_factory=list)  # the model versions it was routed to

    def note_batch(self, batch_id: str, rows: int, waited_s: float) -> None:
        self.batch_ids.append(batch_id)
        self.batch_sizes.append(rows)
        self.queue_wait_s += waited_s

    def release(self) -> None:
        """The request has finished: its model versions may be closed (service/registry.py)."""
        for served in self.leases:
            served.users -= 1
        self.leases.clear()


CURRENT: ContextVar[RequestInfo | None] = ContextVar("ali_request", default=None)


def current() -> RequestInfo | None:
    return CURRENT.get()


def lease(served: Any) -> None:
    """Route the request being handled to `served`, one version of a model (a ServedModel of
    service/registry.py): noted for the access log, the trace and the X-Model-Version header,
    and held until the request ends, so that a swap does not close it under the request."""
    info = CURRENT.get()
    if info is not None:
        info.model, info.version = served.model.name, served.version
        served.users += 1
        info.leases.append(served)
