"""The model files: ONNX Runtime sessions, the registry of shipped and trained models, activation."""
