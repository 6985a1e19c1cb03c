"""NVIDIA Triton through PyTriton: the bundled tritonserver speaks the KServe v2 protocol and hands
batches to Python callables (one per model instance) over its proxy.

POST /v2/models/{decoder,encoder}/infer with binary tensors, like the service's v2 route. Triton's
max_batch_size counts rows (the batch axis), so a 64-row W1 request is a full batch by itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
from common import IMAGE, MAX_BATCH, MAX_WAIT_MS, NLAT, PORT, Net
from pytriton.decorators import batch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig

INSTANCES = int(os.environ.get("PEER_INSTANCES", "1"))


def infer_fn(network: str) -> Callable[..., dict[str, np.ndarray]]:
    net = Net(network)
    names = [o.name for o in net.session.get_outputs()]

    @batch
    def infer(**inputs: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(names, net.session.run(None, inputs), strict=True))

    return infer


if __name__ == "__main__":
    config = TritonConfig(
        http_address="127.0.0.1", http_port=PORT, grpc_port=PORT + 1, metrics_port=PORT + 2
    )
    batching = ModelConfig(
        max_batch_size=MAX_BATCH,
        batcher=DynamicBatcher(max_queue_delay_microseconds=int(MAX_WAIT_MS * 1000)),
    )
    f32 = np.float32
    with Triton(config=config) as triton:
        triton.bind(
            model_name="decoder",
            infer_func=[infer_fn("decoder") for _ in range(INSTANCES)],
            inputs=[Tensor(name="z", dtype=f32, shape=(NLAT,))],
            outputs=[Tensor(name="x", dtype=f32, shape=IMAGE)],
            config=batching,
            strict=False,
        )
        triton.bind(
            model_name="encoder",
            infer_func=[infer_fn("encoder") for _ in range(INSTANCES)],
            inputs=[Tensor(name="x", dtype=f32, shape=IMAGE)],
            outputs=[
                Tensor(name="mu", dtype=f32, shape=(NLAT,)),
                Tensor(name="log_sigma", dtype=f32, shape=(NLAT,)),
            ],
            config=batching,
            strict=False,
        )
        triton.serve()
