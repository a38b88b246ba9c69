"""Inference: super-resolution of face crops and whole-photo enhancement. The back-ends live in
:mod:`facesr.deploy`; ``BACKENDS`` is re-exported here for callers not yet moved there."""

from ..deploy import BACKENDS  # noqa: F401
