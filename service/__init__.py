"""ALI serving package (FastAPI + onnxruntime). Never imports torch.

Public to the training side (the contract, enforced by the import-linter contracts in
pyproject.toml): `service.manifest` (the model manifest schema), `service.grid` (the PNG grid
writer) and `service.runtime` (onnxruntime sessions for a model folder, used by `ali-eval`).
Everything else is the server's own.
"""
