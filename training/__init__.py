"""ALI training package: networks, losses, data, training loop, evaluation and ONNX export."""
