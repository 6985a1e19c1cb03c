"""BentoML: `bentoml serve bentoml_service:Peer`, adaptive batching over rows (batchable=True).

BentoML's batchable APIs take arrays, and its HTTP form of an array is JSON: {"z": [[...], ...]}
and {"x": [[[[...]]]]}; the answer is a JSON array of [N, features] rows. It has no max-wait knob:
its dispatcher sizes batches and waits from a learned latency model, within max_latency_ms (a
cap above which requests are refused with 503, so it is set generously, not to 2 ms).
"""

from __future__ import annotations

import bentoml
import numpy as np
from common import MAX_BATCH, WORKERS, Net


@bentoml.service(workers=WORKERS, traffic={"timeout": 30})
class Peer:
    def __init__(self) -> None:
        self.decoder_net = Net("decoder")
        self.encoder_net = Net("encoder")

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH, max_latency_ms=30_000)
    def decoder(self, z: np.ndarray) -> np.ndarray:
        return self.decoder_net.run(z.astype(np.float32))

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH, max_latency_ms=30_000)
    def encoder(self, x: np.ndarray) -> np.ndarray:
        return self.encoder_net.run(x.astype(np.float32))
