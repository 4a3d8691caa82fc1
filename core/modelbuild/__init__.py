"""Build-time converters that turn upstream model files into the ONNX models the app ships."""
