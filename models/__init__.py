"""The shipped ONNX models, their manifests and licences.

A package only so that every install (wheel, editable, frozen) carries these files and
``core.models`` can find them; it holds no code.
"""
