"""The face priors of the papers: what a network is given or trained against besides the LR face.

* landmark heatmaps (PFSR's facial attention loss and heatmap network; :mod:`facesr.priors.landmarks`),
* face parsing maps (KDFSRNet / PKDN teachers; :mod:`facesr.priors.parsing`).

Priors are made offline into ``.npy`` files (row i = HR face i as loaded) that training configs name in
``data.*.landmarks`` and ``data.*.priors``. The dlib detector and landmark models that annotate faces
live in :mod:`facesr.faces`.
"""
