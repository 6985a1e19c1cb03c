"""ALI serving package (FastAPI + onnxruntime). Never imports torch."""
