"""Service settings, read from the environment with the ALI_ prefix (e.g. ALI_MODEL_DIR)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ALI_", env_file=None, extra="ignore")

    # Models
    model_dir: Path = Field(Path("models"), description="folder of model folders (manifest.json)")
    default_model: str | None = Field(None, description="model used when ?model= is omitted")

    # onnxruntime
    providers: list[str] | None = Field(
        None, description="execution providers in order; default CUDA (if offered) then CPU"
    )
    require_gpu: bool = Field(False, description="readiness fails unless CUDA is really active")
    intra_op_threads: int = Field(0, ge=0, description="0 = onnxruntime's default (all cores)")
    inference_threads: int = Field(
        1,
        ge=1,
        le=64,
        description="model calls run at once (like Triton's instance count); with N > 1 set "
        "intra_op_threads to cores / N",
    )
    inter_op_threads: int = Field(1, ge=0)
    cpu_tokens: int = Field(
        0,
        ge=0,
        le=256,
        description="share this many cores among all workers' model calls (0 = off): a call "
        "takes one token, and any free ones if it is long, and runs with that many onnxruntime "
        "threads, so a lone large request uses every core; replaces intra_op_threads (CPU)",
    )
    graph_optimization: Literal["disable", "basic", "extended", "all"] = "all"
    allow_spinning: bool = Field(
        True,
        description="onnxruntime worker threads spin between calls (off: frees CPU, adds latency)",
    )
    cuda_device_id: int = 0
    cudnn_conv_algo_search: Literal["EXHAUSTIVE", "HEURISTIC", "DEFAULT"] = "HEURISTIC"
    arena_extend_strategy: Literal["kNextPowerOfTwo", "kSameAsRequested"] = "kSameAsRequested"
    gpu_mem_limit_mb: int | None = Field(None, ge=1)
    warmup: bool = True

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
    max_samples: int = Field(256, ge=1, description="maximum n for /sample")
    max_steps: int = Field(64, ge=2, description="maximum steps for /interpolate")

    # Samplers (GET /sample?sampler=drs|drs+gibbs)
    max_drs_proposals: int = Field(
        4096,
        ge=1,
        description="decoder samples one DRS request may draw (at least n); when they run out "
        "before n are accepted, the rest are the rejected ones D scored highest, and the JSON "
        "answer counts them in filled_from_rejected",
    )
    drs_calibration: int = Field(
        2048,
        ge=16,
        description="decoder samples (seed 0) drawn per model at load time; the largest "
        "discriminator logit among them is the model's DRS bound M",
    )

    # Server
    host: str = "0.0.0.0"
    port: int = 8000
    workers: int = Field(
        1, ge=1, description="worker processes (each with its own socket on Linux)"
    )
    log_level: str = "info"
    keepalive_timeout_s: int = Field(
        650,
        ge=1,
        description="close idle keep-alive connections after this long; keep it above the "
        "idle timeout of clients and load balancers in front (AWS ALB 60 s, Azure 240 s, "
        "Google Cloud 600 s), or a pooled request can race the close and be lost",
    )
    shutdown_delay_s: float = Field(
        1.0, ge=0, description="after SIGTERM, keep accepting (with /readyz 503) this long"
    )
    drain_seconds: float = Field(
        10.0, ge=0, description="then wait this long for in-flight requests before exiting"
    )
