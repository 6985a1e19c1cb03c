"""Helpers for tests and benchmarks, shipped with the service so both can import them.

- `tiny_models`: tiny ALI-shaped ONNX models + manifests built with onnx.helper (needs the
  `onnx` package from the dev extra; nothing in the serving path imports this package).
- `server`: start the real service as a subprocess on loopback and wait for it.
"""
