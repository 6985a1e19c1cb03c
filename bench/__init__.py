"""Benchmarks: raw onnxruntime, the HTTP service under wrk, PyTorch eager, training speed."""
