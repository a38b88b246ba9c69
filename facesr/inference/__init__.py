"""Inference: super-resolution of face crops, whole-photo enhancement, optimised / exported back-ends.

``BACKENDS`` lives here (not in :mod:`.runtime`, which imports torch) so that building the command
line's parser stays torch-free.
"""

BACKENDS = ("auto", "eager", "torch", "onnxruntime", "aoti", "ncnn")
