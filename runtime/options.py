"""How onnxruntime sessions are opened: a plain options object, so the runtime needs no web stack.

The service builds one from its settings (`Settings.runtime_options()`); `ali-eval` and the
benchmarks use the defaults or set a field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GraphOptimization = Literal["disable", "basic", "extended", "all"]
CudnnConvAlgoSearch = Literal["EXHAUSTIVE", "HEURISTIC", "DEFAULT"]
ArenaExtendStrategy = Literal["kNextPowerOfTwo", "kSameAsRequested"]


@dataclass(frozen=True)
class RuntimeOptions:
    providers: tuple[str, ...] | None = None  # None: CUDA (if this build offers it), then CPU
    intra_op_threads: int = 0  # without core tokens; 0 = onnxruntime's default (all cores)
    graph_optimization: GraphOptimization = "all"
    allow_spinning: bool = True  # threads spin between calls: less latency, more CPU
    cuda_device_id: int = 0
    cudnn_conv_algo_search: CudnnConvAlgoSearch = "HEURISTIC"
    arena_extend_strategy: ArenaExtendStrategy = "kSameAsRequested"
    gpu_mem_limit_mb: int | None = None
