"""Core tokens (ALI_CPU_TOKENS): a lone call gets every core, calls never hold more than the
budget together, and worker processes share one budget."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from runtime.cores import CoreTokens, session_sizes
from runtime.model import load_model
from runtime.options import RuntimeOptions
from service.testing.server import running_service
from service.testing.tiny_models import make_tiny_model
from service.workers import reuseport_supported


def test_session_sizes_are_powers_of_two_up_to_the_budget() -> None:
    assert session_sizes(1) == [1]
    assert session_sizes(2) == [1, 2]
    assert session_sizes(6) == [1, 2, 4, 6]


def test_a_lone_call_takes_every_token_and_gives_them_back() -> None:
    tokens = CoreTokens(4)
    with tokens.take() as n:
        assert n == 4
        assert not tokens._sem.acquire(False)  # nothing left while it runs
    with tokens.take() as n:  # all returned
        assert n == 4


def test_a_call_beside_another_takes_what_is_free_rounded_to_a_session_size() -> None:
    tokens = CoreTokens(4)
    tokens._sem.acquire()  # another call holds one token: three free
    with tokens.take() as n:
        assert n == 2  # no 3-thread session; the third token stays free for others
        assert tokens._sem.acquire(False)
        tokens._sem.release()
    tokens._sem.release()


def test_calls_never_hold_more_tokens_than_the_budget() -> None:
    tokens, lock = CoreTokens(2), threading.Lock()
    busy, peak = [0], [0]

    def call() -> None:
        for _ in range(20):
            with tokens.take() as n:
                with lock:
                    busy[0] += n
                    peak[0] = max(peak[0], busy[0])
                time.sleep(0.001)
                with lock:
                    busy[0] -= n

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2 and busy[0] == 0


def test_a_network_with_tokens_answers_the_same_on_every_session(tmp_path: Path) -> None:
    make_tiny_model(tmp_path, "tiny")
    plain = load_model(tmp_path / "tiny", RuntimeOptions(intra_op_threads=1))
    shared = load_model(tmp_path / "tiny", RuntimeOptions(), CoreTokens(2))
    dec = shared.networks["decoder"]
    assert sorted(dec.sessions) == [1, 2]
    z = np.random.default_rng(0).standard_normal((5, plain.manifest.latent.dim), np.float32)
    want = plain.networks["decoder"].run({"z": z})[0]
    for session in dec.sessions.values():
        np.testing.assert_allclose(session.run(None, {"z": z})[0], want, atol=1e-5)
    np.testing.assert_allclose(dec.run({"z": z})[0], want, atol=1e-5)


@pytest.mark.skipif(not reuseport_supported(), reason="per-worker sockets: Linux")
def test_workers_share_the_tokens_and_serve(tmp_path: Path) -> None:
    make_tiny_model(tmp_path, "tiny")
    with running_service(tmp_path, workers=2, cpu_tokens=2) as url:
        dim = json.loads((tmp_path / "tiny" / "manifest.json").read_text())["latent"]["dim"]
        body = json.dumps({"latents": [[0.0] * dim] * 3}).encode()
        for _ in range(4):
            req = urllib.request.Request(
                f"{url}/decode?model=tiny", body, {"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(req, timeout=30) as r:
                assert r.status == 200


class _Counting:
    def __init__(self, session: object) -> None:
        self.session, self.calls = session, 0

    def run(self, *args: object) -> object:
        self.calls += 1
        return self.session.run(*args)  # type: ignore[attr-defined]


def test_only_calls_long_enough_to_gain_take_more_threads(tmp_path: Path) -> None:
    make_tiny_model(tmp_path, "tiny")
    model = load_model(tmp_path / "tiny", RuntimeOptions(), CoreTokens(2))
    model.warmup()
    dec = model.networks["decoder"]
    assert dec.seconds_per_row > 0  # measured at warm-up on one thread
    one, two = _Counting(dec.sessions[1]), _Counting(dec.sessions[2])
    dec.sessions = {1: one, 2: two}  # type: ignore[dict-item]
    z = np.zeros((4, model.manifest.latent.dim), np.float32)
    dec.seconds_per_row = 1e-6  # 4 rows: far below PARALLEL_MIN_S
    dec.run({"z": z})
    assert (one.calls, two.calls) == (1, 0)
    dec.seconds_per_row = 1.0  # 4 s on one thread: worth both cores
    dec.run({"z": z})
    assert (one.calls, two.calls) == (1, 1)
