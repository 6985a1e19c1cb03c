"""Bodies of the Open Inference Protocol (KServe v2 REST): pydantic models for OpenAPI and parsing.

Spec: https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/ . Parameter
objects allow any extra keys (clients send their own); the ones this server reads are typed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

# The numeric datatypes of the protocol (BYTES and BF16 are not served).
Datatype = Literal[
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16",
    "FP32", "FP64",
]  # fmt: skip
# Tensor elements, flat or nested, row-major.
TensorData = list[Any]


class V2Error(BaseModel):
    error: str


class ServerLive(BaseModel):
    live: bool


class ServerReady(BaseModel):
    ready: bool


class ModelReady(BaseModel):
    name: str
    ready: bool


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int] = Field(description="-1 for the dynamic batch axis")


class ModelMetadata(BaseModel):
    name: str = Field(description="<model>.<network>, e.g. mnist.decoder")
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class _Params(BaseModel):
    model_config = ConfigDict(extra="allow")


class InputParameters(_Params):
    binary_data_size: StrictInt | None = Field(
        None, ge=0, description="bytes of this input in the binary part of the body"
    )


class OutputParameters(_Params):
    binary_data: StrictBool | None = Field(None, description="return this output as raw bytes")


class RequestParameters(_Params):
    binary_data_output: StrictBool | None = Field(
        None, description="default for outputs without their own binary_data"
    )


class RequestInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    shape: list[Annotated[int, Field(ge=0)]]
    datatype: Datatype
    parameters: InputParameters | None = None
    data: TensorData | None = Field(None, description="absent when sent as binary data")


class RequestOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    parameters: OutputParameters | None = None


class InferRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "1",
                    "inputs": [
                        {"name": "z", "shape": [1, 4], "datatype": "FP32", "data": [0, 0.5, 1, 2]}
                    ],
                }
            ]
        },
    )
    id: str | None = None
    parameters: RequestParameters | None = None
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = Field(None, description="default: every output")


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: TensorData | None = Field(
        None, description="flat, row-major; null for NaN/inf (JSON has no such numbers)"
    )


class InferResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str | None = None
    outputs: list[ResponseOutput]


# ---- GET /v2/models/{name}/config: the part of Triton's model configuration its tools read ----
class ConfigTensor(BaseModel):
    name: str
    data_type: str = Field(description="TYPE_FP32, TYPE_INT64, ...")
    dims: list[int] = Field(description="without the batch axis (max_batch_size > 0)")


class DynamicBatching(BaseModel):
    preferred_batch_size: list[int]
    max_queue_delay_microseconds: int


class InstanceGroup(BaseModel):
    count: int
    kind: Literal["KIND_CPU", "KIND_GPU"]


class ModelConfig(BaseModel):
    name: str
    platform: str
    backend: str
    max_batch_size: int = Field(description="rows per request (ALI_MAX_IMAGES)")
    input: list[ConfigTensor]
    output: list[ConfigTensor]
    dynamic_batching: DynamicBatching | None = Field(None, description="absent: batching off")
    instance_group: list[InstanceGroup]


class RepositoryIndexRequest(BaseModel):
    ready: StrictBool | None = Field(None, description="true: only the versions that are READY")


class RepositoryIndexEntry(BaseModel):
    name: str
    version: str
    state: str = Field(description="READY, LOADING, UNLOADING or UNAVAILABLE")
    reason: str = ""


class RepositoryLoadRequest(BaseModel):
    parameters: dict[str, Any] = Field(default_factory=dict)
