"""The face priors of the papers: what a network is given or trained against besides the LR face.

* landmark heatmaps (PFSR's facial attention loss and heatmap network; :mod:`facesr.priors.landmarks`),
* face parsing maps (KDFSRNet / PKDN teachers; :mod:`facesr.priors.parsing`).

Priors are ``.npy`` files (row i = HR face i as loaded) that training configs name in ``data.*.landmarks``
and ``data.*.priors``; ``auto`` there builds them once from the split's HR cache (:func:`auto_prior_file`,
also run by ``facesr data``). The dlib detector and landmark models that annotate faces
live in :mod:`facesr.faces`.
"""


def auto_prior_file(dcfg: dict, name: str, progress: bool = True) -> str:
    """The file of a data split's ``auto`` prior, built once from the split's HR cache (the limited one
    when ``max_images`` is set): ``landmarks`` (dlib's 68 points, :mod:`.landmarks`) or ``parsing`` (maps
    rasterised from them, :mod:`.parsing`). Anything else, or no cache, is a one-line ConfigError."""
    from ..data.sources import limited_cache_path
    from ..errors import ConfigError

    if name not in ("landmarks", "parsing"):
        raise ConfigError(f"data priors.{name}: 'auto' is known for landmarks and priors.parsing only; give a .npy file")
    if not dcfg.get("cache"):
        raise ConfigError(f"data {name}: 'auto' builds it from the split's HR cache: set data.<split>.cache")
    cache = limited_cache_path(dcfg["cache"], int(dcfg.get("max_images") or 0))
    if name == "landmarks":
        from .landmarks import landmarks_for_cache

        return str(landmarks_for_cache(cache, progress=progress))
    from .parsing import parsing_for_cache

    return str(parsing_for_cache(cache, progress=progress))

