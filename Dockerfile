# syntax=docker/dockerfile:1
# ALI service image. Only the `serve` extra (+ onnxruntime-gpu) is installed: no torch.
#
#   docker build -t ali-service:gpu .                 # default target: CUDA runtime (gpu)
#   docker build -t ali-service:cpu --target cpu .    # hosts without a GPU
#
# onnxruntime-gpu 1.31 on PyPI is built against CUDA 13.x and cuDNN 9.x, so the GPU runtime
# stage starts from NVIDIA's CUDA 13 runtime image with cuDNN 9 (host driver R580 or newer).

ARG CUDA_IMAGE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04
ARG PYTHON_IMAGE=python:3.12-slim-bookworm
ARG ORT_GPU_VERSION=1.31.1

# ---------------------------------------------------------------------------------------------
# CPU: build a venv with the serve extra, then copy it into a clean slim image.
FROM ${PYTHON_IMAGE} AS cpu-builder
# Behind a private index or a TLS-intercepting proxy: --build-arg PIP_INDEX_URL=<index> and
# PIP_CERT=<a CA bundle mounted into the build> (README, "Deploy"). Unset: pip's defaults.
# Build arguments reach only this stage's RUN steps, never the runtime image.
ARG PIP_INDEX_URL
ARG PIP_CERT
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY runtime/ runtime/
COPY service/ service/
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install ".[serve]"

FROM ${PYTHON_IMAGE} AS cpu
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin ali
COPY --from=cpu-builder /opt/venv /opt/venv
WORKDIR /app
COPY --chown=10001:10001 models/ models/
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    ALI_MODEL_DIR=/app/models \
    ALI_HOST=0.0.0.0 \
    ALI_PORT=8000 \
    ALI_GRPC_PORT=8001 \
    ALI_PROVIDERS='["CPUExecutionProvider"]'
USER 10001
EXPOSE 8000
EXPOSE 8001
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('ALI_PORT', '8000')}/readyz\", timeout=2)"]
CMD ["ali-serve"]

# ---------------------------------------------------------------------------------------------
# GPU: the same venv, with onnxruntime-gpu in place of onnxruntime. Both wheels own the
# `onnxruntime` package directory, so remove both and reinstall the GPU one alone.
FROM ${CUDA_IMAGE} AS gpu-builder
ARG ORT_GPU_VERSION
# PIP_INDEX_URL, PIP_CERT: see cpu-builder.
ARG PIP_INDEX_URL
ARG PIP_CERT
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 DEBIAN_FRONTEND=noninteractive
# DL3008 (pin apt versions) is ignored on purpose: the base image tag already pins the Ubuntu
# release, and exact .deb versions vanish from Ubuntu's archive, which would break rebuilds.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY runtime/ runtime/
COPY service/ service/
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install ".[serve]" \
    && /opt/venv/bin/pip uninstall -y onnxruntime \
    && /opt/venv/bin/pip install "onnxruntime-gpu==${ORT_GPU_VERSION}"

FROM ${CUDA_IMAGE} AS gpu
ENV DEBIAN_FRONTEND=noninteractive
# DL3008: see above.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin ali
COPY --from=gpu-builder /opt/venv /opt/venv
WORKDIR /app
COPY --chown=10001:10001 models/ models/
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    ALI_MODEL_DIR=/app/models \
    ALI_HOST=0.0.0.0 \
    ALI_PORT=8000 \
    ALI_GRPC_PORT=8001
USER 10001
EXPOSE 8000
EXPOSE 8001
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('ALI_PORT', '8000')}/readyz\", timeout=2)"]
CMD ["ali-serve"]
