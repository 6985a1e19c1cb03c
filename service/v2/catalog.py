"""The v2 models: every network of every loaded model, named `<model>.<network>`.

    mnist.encoder        x [N, 1, 28, 28] FP32 (+ y [N] INT64) -> mu, log_sigma [N, d] FP32
    mnist.decoder        z [N, d] FP32 (+ y)                    -> x [N, 1, 28, 28] FP32
    mnist.discriminator  x, z (+ y)                              -> logit [N] FP32

(y only for conditional models.) Model names may hold dots, network names do not, so the name
splits at its last dot. Versions are the repository's (runtime/repository.py): a request without
one goes to the newest ready version; tensor names, datatypes and
shapes are the ONNX graph's as onnxruntime reads it, -1 for the dynamic batch axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from runtime.manifest import NETWORKS
from runtime.model import CUDA
from runtime.repository import version_key
from service.errors import ModelNotFound, quote
from service.inputs import check_label_range
from service.registry import ModelRegistry, ServedModel
from service.settings import Settings
from service.v2.schemas import (
    ConfigTensor,
    DynamicBatching,
    InstanceGroup,
    ModelConfig,
    ModelMetadata,
    TensorMetadata,
)
from service.v2.tensors import ONNX_TYPES, TensorSpec

PLATFORM = "onnxruntime_onnx"
# The protocol extensions the server metadata names, over REST and gRPC.
EXTENSIONS = ["binary_tensor_data", "model_configuration", "model_repository"]


def v2_name(model: str, network: str) -> str:
    return f"{model}.{network}"


def _spec(node: Any) -> TensorSpec:
    """An onnxruntime NodeArg -> TensorSpec (symbolic or unknown dims -> -1)."""
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in node.shape)
    return TensorSpec(node.name, ONNX_TYPES.get(node.type, node.type), shape)


@dataclass(frozen=True)
class V2Model:
    name: str
    served: ServedModel
    network: str

    @property
    def version(self) -> str:
        return self.served.manifest.version

    @property
    def inputs(self) -> list[TensorSpec]:
        return [_spec(n) for n in self.served.model.networks[self.network].inputs.values()]

    @property
    def outputs(self) -> list[TensorSpec]:
        return [_spec(n) for n in self.served.model.networks[self.network].session.get_outputs()]

    def check_values(self, feeds: dict[str, np.ndarray]) -> None:
        """Values the graph cannot index with: labels outside the model's classes."""
        manifest = self.served.manifest
        if manifest.conditional and "y" in feeds:
            check_label_range(feeds["y"], manifest)  # InvalidInput: a 400 under /v2

    async def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Through the network's batcher, beside the domain API's rows: {output name: [N, ...]}."""
        outputs = await self.served.run(self.network, feeds)
        names = self.served.model.networks[self.network].output_names
        return dict(zip(names, outputs, strict=True))


def names(registry: ModelRegistry) -> list[str]:
    return [v2_name(m, n) for m in sorted(registry.latest) for n in NETWORKS]


def resolve(registry: ModelRegistry, name: str, version: str | None = None) -> V2Model:
    """`<model>.<network>` (and version, if given) -> V2Model; 404 unknown model or version,
    503 a model (or version) that is not loaded."""
    model, dot, network = name.rpartition(".")
    if not (dot and model and network in NETWORKS) or model not in registry.names():
        known = ", ".join(names(registry)) or "none"
        raise ModelNotFound(f"unknown model {quote(name)}; v2 models (<model>.<network>): {known}")
    return V2Model(name, registry.get(model, version), network)


def _meta(spec: TensorSpec) -> TensorMetadata:
    return TensorMetadata(name=spec.name, datatype=spec.datatype, shape=list(spec.shape))


def metadata(model: V2Model, registry: ModelRegistry) -> ModelMetadata:
    served = registry.served.get(model.served.model.name, {})
    return ModelMetadata(
        name=model.name,
        versions=sorted(served, key=version_key, reverse=True) or [model.version],
        platform=PLATFORM,
        inputs=[_meta(s) for s in model.inputs],
        outputs=[_meta(s) for s in model.outputs],
    )


def _config_tensor(spec: TensorSpec) -> ConfigTensor:
    return ConfigTensor(
        name=spec.name, data_type=f"TYPE_{spec.datatype}", dims=list(spec.shape[1:])
    )


def config(model: V2Model, settings: Settings) -> ModelConfig:
    """Triton's model configuration as its tools read it (perf_analyzer, model analyzer).

    max_batch_size is the rows a request may carry (ALI_MAX_IMAGES): Triton's meaning for a client.
    The batcher merges requests into calls of up to ALI_MAX_BATCH_SIZE rows (the preferred size),
    waiting up to ALI_MAX_WAIT_MS (no dynamic_batching with ALI_BATCHING=false); instance_group
    counts the model calls a worker runs at once (one per core token on the CPU, one on CUDA)."""
    net = model.served.model.networks[model.network]
    gpu = net.provider == CUDA
    return ModelConfig(
        name=model.name,
        platform=PLATFORM,
        backend="onnxruntime",
        max_batch_size=settings.max_images,
        input=[_config_tensor(s) for s in model.inputs],
        output=[_config_tensor(s) for s in model.outputs],
        dynamic_batching=DynamicBatching(
            preferred_batch_size=[settings.max_batch_size],
            max_queue_delay_microseconds=round(settings.max_wait_ms * 1000),
        )
        if settings.batching
        else None,
        instance_group=[
            InstanceGroup(
                count=net.tokens.total if net.tokens else 1, kind="KIND_GPU" if gpu else "KIND_CPU"
            )
        ],
    )
