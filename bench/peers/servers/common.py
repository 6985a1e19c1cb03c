"""Shared by every peer's server script; runs in the peer's own environment (numpy, onnxruntime).

The bench passes the configuration in the environment: PEER_MODEL_DIR (the shipped model folder),
PEER_PORT, PEER_WORKERS, PEER_THREADS (onnxruntime intra-op threads per session), PEER_MAX_BATCH,
PEER_MAX_WAIT_MS. The raw protocol: a request body is the FP32 bytes of [N, ...] input rows, an
answer the FP32 bytes of the outputs ([N, 784] images; [N, 512] = mu ++ log_sigma codes).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

MODEL_DIR = Path(os.environ["PEER_MODEL_DIR"])  # a version folder (bench/peers/run.py)
PORT = int(os.environ.get("PEER_PORT", "8100"))
WORKERS = int(os.environ.get("PEER_WORKERS", "1"))
THREADS = int(os.environ.get("PEER_THREADS", "1"))
MAX_BATCH = int(os.environ.get("PEER_MAX_BATCH", "64"))
MAX_WAIT_MS = float(os.environ.get("PEER_MAX_WAIT_MS", "2"))

NLAT = 256
IMAGE = (1, 28, 28)
# network -> (input name, one row's shape)
INPUTS = {"decoder": ("z", (NLAT,)), "encoder": ("x", IMAGE)}


class Net:
    """One onnxruntime session on the CPU with THREADS intra-op threads (as the service sets)."""

    def __init__(self, network: str, threads: int = THREADS) -> None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(MODEL_DIR / f"{network}.onnx"), opts, providers=["CPUExecutionProvider"]
        )
        self.input, self.row_shape = INPUTS[network]

    def rows(self, body: bytes) -> np.ndarray:
        """Raw request bytes -> [N, *row_shape] FP32."""
        return np.frombuffer(body, np.float32).reshape(-1, *self.row_shape)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """[N, *row_shape] -> [N, features]: all outputs flattened per row and side by side."""
        outs = self.session.run(None, {self.input: batch})
        return np.concatenate([o.reshape(len(batch), -1) for o in outs], axis=1)

    def run_split(self, parts: list[np.ndarray]) -> list[np.ndarray]:
        """Several requests' rows in one call; the answer split back per request."""
        out = self.run(np.concatenate(parts))
        return np.split(out, np.cumsum([len(p) for p in parts])[:-1])
