"""The Open Inference Protocol (KServe v2 REST, as spoken by Triton and MLServer) on the ALI models.

- `schemas`: the protocol's JSON bodies (pydantic; they document the routes in OpenAPI);
- `tensors`: tensors <-> numpy, as JSON `data` or with the binary tensor data extension;
- `catalog`: every network of every loaded model as a v2 model named `<model>.<network>`.

The routes are in service/routers/v2.py; inference goes through the same batchers as the domain
API (`ServedModel.run`), so rows of both share batches, limits, deadlines and metrics.
"""
