"""Base class of the registered loss modules."""
from __future__ import annotations

import copy
from typing import Any

import torch.nn as nn


class LossModule(nn.Module):
    """A registered loss term: ``kind`` says how it is called (see :mod:`facesr.losses`).

    Subclasses store their options with :meth:`_set_options`; :meth:`describe` returns them with
    the registered name.  A loss module holds no parameters and nothing in its ``state_dict()``.
    """

    kind: str = "image"
    name: str = "?"

    def _set_options(self, **options: Any) -> None:
        self._options = dict(options)

    def describe(self) -> dict[str, Any]:
        """JSON-able record of this term: ``{"name": ..., **options}``."""
        return {"name": self.name, **copy.deepcopy(getattr(self, "_options", {}))}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in getattr(self, "_options", {}).items())
