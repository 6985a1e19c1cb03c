"""Helpers for tests and benchmarks, shipped with the service so both can import them; nothing
in the serving path imports this package (its modules name what they need, e.g. `onnx`)."""
