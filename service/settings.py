"""Service settings, read from the environment with the ALI_ prefix (e.g. ALI_MODEL_DIR)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from runtime.options import (
    ArenaExtendStrategy,
    CudnnConvAlgoSearch,
    GraphOptimization,
    RuntimeOptions,
)
from runtime.repository import VersionPolicy
from runtime.samplers import DRS_CALIBRATION, MAX_DRS_PROPOSALS


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ALI_", env_file=None, extra="ignore")

    # Models
    model_dir: Path = Field(Path("models"), description="folder of model folders (manifest.json)")
    default_model: str | None = Field(None, description="model used when ?model= is omitted")
    model_control: Literal["none", "poll", "explicit"] = Field(
        "none",
        description="none: the models at start-up; poll: rescan every repository_poll_s; "
        "explicit: the v2 repository API loads and unloads (service/model_control.py)",
    )
    repository_poll_s: float = Field(5.0, gt=0, description="poll mode: seconds between scans")
    version_policy: VersionPolicy | None = Field(
        None,
        description="versions served per model unless its folder has a version_policy.json, as "
        'JSON in Triton\'s names: {"latest": {"num_versions": N}} (unset: the newest one), '
        '{"all": {}} or {"specific": {"versions": [1, 3]}}',
    )
    control_dir: Path | None = Field(
        None, description="explicit mode: the folder all workers share (the supervisor makes it)"
    )

    # onnxruntime
    providers: list[str] | None = Field(
        None, description="execution providers in order; default CUDA (if offered) then CPU"
    )
    require_gpu: bool = Field(False, description="readiness fails unless CUDA is really active")
    graph_optimization: GraphOptimization = "all"
    allow_spinning: bool = Field(
        True,
        description="onnxruntime worker threads spin between calls (off: frees CPU, adds latency)",
    )
    cuda_device_id: int = 0
    cudnn_conv_algo_search: CudnnConvAlgoSearch = "HEURISTIC"
    arena_extend_strategy: ArenaExtendStrategy = "kSameAsRequested"
    gpu_mem_limit_mb: int | None = Field(None, ge=1)
    warmup: bool = True

    # Concurrency (service/concurrency.py): unset, the best measured configuration for the host
    workers: int | None = Field(
        None,
        ge=1,
        description="worker processes, each with its own socket on Linux (unset: one per usable "
        "core on a CPU host, one with CUDA)",
    )
    cpu_tokens: int | None = Field(
        None,
        ge=1,
        le=256,
        description="cores all workers' CPU model calls share (unset: the usable cores): a call "
        "takes one, and every free one if it is long and nothing else runs",
    )

    # Dynamic batching
    batching: bool = Field(True, description="False runs every request on its own")
    max_batch_size: int = Field(64, ge=1, le=4096, description="rows per model call")
    max_wait_ms: float = Field(2.0, ge=0, description="wait after the first row for more rows")
    max_queue_rows: int = Field(2048, ge=1, description="rows waiting per network; beyond: 503")
    request_timeout_s: float = Field(30.0, gt=0, description="per-request deadline; beyond: 504")

    # Input limits
    max_body_bytes: int = Field(20 * 1024 * 1024, ge=1024)
    max_image_pixels: int = Field(4096 * 4096, ge=1, description="decompression-bomb guard")
    max_images: int = Field(256, ge=1, description="images (or latents) per request")
    max_request_pixels: int = Field(
        64 * 1024 * 1024, ge=1, description="decoded pixels of all images in one request"
    )
    max_cpu_queue: int = Field(
        64,
        ge=1,
        description="large inputs waiting to be decoded off the event loop, per worker; "
        "beyond: 503",
    )
    max_samples: int = Field(256, ge=1, description="maximum n for /sample")
    max_steps: int = Field(64, ge=2, description="maximum steps for /interpolate")

    # Samplers (GET /sample?sampler=drs|drs+gibbs)
    max_drs_proposals: int = Field(
        MAX_DRS_PROPOSALS,
        ge=1,
        description="decoder samples one DRS request may draw (at least n); when they run out "
        "before n are accepted, the rest are the rejected ones D scored highest, and the JSON "
        "answer counts them in filled_from_rejected",
    )
    drs_calibration: int = Field(
        DRS_CALIBRATION,
        ge=16,
        description="decoder samples (seed 0) drawn per model at load time; the largest "
        "discriminator logit among them is the model's DRS bound M",
    )

    # Access control (service/auth.py): off unless one of the first two is set
    api_keys_file: Path | None = Field(
        None, description="file of 'NAME SCOPES SHA256' lines (a mounted secret); re-read on change"
    )
    api_key: SecretStr | None = Field(None, description="one key with every scope (local use)")
    protect_metrics: bool = Field(False, description="/metrics needs the metrics scope")

    # Server
    host: str = "0.0.0.0"
    port: int = 8000
    grpc: bool = Field(True, description="serve the v2 protocol over gRPC too, on grpc_port")
    grpc_port: int = Field(8001, ge=1, le=65535, description="gRPC port (Triton's)")
    log_level: str = "info"
    log_format: Literal["text", "json"] = Field(
        "text", description="log lines as text or one JSON object each (service/logs.py)"
    )
    access_log: bool = Field(True, description="one line per request, at info level")
    keepalive_timeout_s: int = Field(
        650,
        ge=1,
        description="close idle keep-alive connections after this long; keep it above the "
        "idle timeout of clients and load balancers in front (AWS ALB 60 s, Azure 240 s, "
        "Google Cloud 600 s), or a pooled request can race the close and be lost",
    )
    header_timeout_s: float = Field(
        5.0, gt=0, description="a request's line and headers must arrive within this long"
    )
    max_header_bytes: int = Field(
        65536, ge=1024, description="request line and headers, at most (431 beyond)"
    )
    max_headers: int = Field(100, ge=8, description="header fields per request (431 beyond)")
    max_connections: int = Field(
        1024, ge=1, description="open connections per worker; one more is refused (503)"
    )
    shutdown_delay_s: float = Field(
        1.0, ge=0, description="after SIGTERM, keep accepting (with /readyz 503) this long"
    )
    drain_seconds: float = Field(
        10.0, ge=0, description="then wait this long for in-flight requests before exiting"
    )

    def runtime_options(self) -> RuntimeOptions:
        """The onnxruntime part of these settings, for runtime.model.load_model."""
        return RuntimeOptions(
            providers=tuple(self.providers) if self.providers else None,
            graph_optimization=self.graph_optimization,
            allow_spinning=self.allow_spinning,
            cuda_device_id=self.cuda_device_id,
            cudnn_conv_algo_search=self.cudnn_conv_algo_search,
            arena_extend_strategy=self.arena_extend_strategy,
            gpu_mem_limit_mb=self.gpu_mem_limit_mb,
        )
