"""Each protocol carries a workload's rows, and an answer decodes back to [N, features]."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from bench.peers.workloads import decode_answer, request, workloads


@pytest.mark.parametrize("protocol", ["service", "v2", "raw", "b64json", "json"])
def test_every_protocol_carries_the_same_rows(protocol: str) -> None:
    w1, w2 = workloads()
    assert w1.rows.shape == (64, 256) and w2.rows.shape == (1, 1, 28, 28)
    req = request(protocol, w1)
    if protocol in ("service", "v2"):
        head_len = int(req.headers["Inference-Header-Content-Length"])
        head = json.loads(req.body[:head_len])
        assert head["inputs"][0]["shape"] == [64, 256]
        rows = np.frombuffer(req.body[head_len:], "<f4").reshape(64, 256)
        assert req.path == (
            "/v2/models/mnist.decoder/infer"
            if protocol == "service"
            else "/v2/models/decoder/infer"
        )
    elif protocol == "raw":
        rows = np.frombuffer(req.body, "<f4").reshape(64, 256)
    elif protocol == "b64json":
        rows = np.frombuffer(base64.b64decode(json.loads(req.body)["data"]), "<f4").reshape(64, 256)
    else:
        rows = np.asarray(json.loads(req.body)["z"], np.float32)
    np.testing.assert_array_equal(rows, w1.rows)


def test_v2_answers_decode_all_outputs_side_by_side() -> None:
    mu, log_sigma = np.ones((2, 3), np.float32), np.zeros((2, 3), np.float32)
    head = json.dumps(
        {
            "outputs": [
                {"name": n, "parameters": {"binary_data_size": a.nbytes}}
                for n, a in (("mu", mu), ("log_sigma", log_sigma))
            ]
        }
    ).encode()
    body = head + mu.tobytes() + log_sigma.tobytes()
    got = decode_answer("v2", body, {"inference-header-content-length": str(len(head))}, 2)
    np.testing.assert_array_equal(got, np.concatenate([mu, log_sigma], axis=1))


def test_unknown_protocol_is_refused() -> None:
    with pytest.raises(ValueError, match="protocol"):
        request("grpc", workloads()[0])


def test_smoke_keeps_one_concurrency_per_workload() -> None:
    assert [w.concurrency for w in workloads(smoke=True)] == [(4,), (8,)]
