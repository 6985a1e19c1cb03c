"""The ALI HTTP server (FastAPI + uvicorn + onnxruntime). Never imports torch.

The model runtime it serves with (manifest, sessions, samplers, grid, core tokens) is the
`runtime` package, which training uses too; nothing here is imported by training.
"""
