"""Face analysis that facesr uses but does not train: detection, 68-point landmarks and identity
descriptors (dlib, optional: ``pip install 'facesr[faces]'``), in :mod:`facesr.faces.dlib_models`.

Used by :mod:`facesr.enhance` (detect and align faces in photos), the face metrics
(:mod:`facesr.metrics.face`: landmark error, identity similarity) and the landmark priors
(:mod:`facesr.priors.landmarks`). Nothing here imports dlib until a function is called.
"""
