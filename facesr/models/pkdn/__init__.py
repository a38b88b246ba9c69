"""KDFSRNet and PKDN (parsing-map teachers distilled into LR-only students): architectures and presets
registered with :mod:`facesr.registry`.

Presets: ``kdfsr`` (student, 5,204,019 parameters), ``kdfsr-teacher`` (LR + 3-channel parsing map,
2,526,027), ``pkdn`` (student), ``pkdn-teacher`` (LR + parsing map, parsing-map fusion blocks),
``pkdn-teacher-nopfb-noffb`` / ``pkdn-teacher-noffb`` and the matching students (Table 2's rows);
``pkdn-lite`` / ``pkdn-teacher-lite``: the CPU-size pair (32 channels, 2 RCABs per RCAG, global skip).
Teachers are called ``net(lr, parsing)``; students ``net(lr)``; all take ``return_features=True``.

Importing this package is light (no torch): builders import :mod:`.arch` when a network is built, and
the classes are loaded from :mod:`facesr.models.pkdn.arch` on first attribute access.
"""
from __future__ import annotations

from ...registry import Preset, lazy_exports, register_lazy_arch, register_preset

KDFSR_PAPER = ("Wang, Jiang, Zhong, Liu, Propagating Facial Prior Knowledge for Multitask Learning in Face "
               "Super-Resolution (KDFSRNet), IEEE TCSVT 2022")
PKDN_PAPER = "Yang, Sun, Li, Cui et al., Prior Knowledge Distillation Network for Face Super-Resolution (PKDN)"

_LAZY = ("KDFSRNet", "PKDN", "RCAB", "RCAG", "ParsingFusionBlock", "FeatureFusionBlock", "parsing_to_channels",
         "label_palette")
__all__ = ["KDFSR_PAPER", "PKDN_PAPER", *_LAZY]


__getattr__ = lazy_exports(__name__ + ".arch", _LAZY)


register_lazy_arch("kdfsrnet", __name__ + ".arch:KDFSRNet")
register_lazy_arch("pkdn", __name__ + ".arch:PKDN")


# LR synthesis bicubic 16 -> 128; crop "lfw": the bundled configs train on LFW (centre 136 of 250 px)
_sr8 = dict(lr_size=16, hr_size=128, degradation={"kind": "bicubic"}, crop="lfw")

register_preset(Preset("kdfsr", "kdfsrnet", {"n_rcab": 6, "mean_shift": True},
                       "KDFSRNet student x8: LR only, 6 RCABs per stage, inverse-pixel-shuffle encoder / "
                       "pixel-shuffle decoder (5,204,019 params)", paper=KDFSR_PAPER,
                       config="kdfsr_student_lfw.yaml", **_sr8))
register_preset(Preset("kdfsr-teacher", "kdfsrnet", {"n_rcab": 2, "prior_channels": 3},
                       "KDFSRNet teacher x8: LR + 3-channel parsing map at the head, 2 RCABs per stage "
                       "(2,526,027 params)", paper=KDFSR_PAPER, config="kdfsr_teacher_lfw.yaml", **_sr8))
register_preset(Preset("pkdn", "pkdn", {"n_rcab": 6, "ffb": True},
                       "PKDN student x8: LR only, RCAGs + feature fusion blocks", paper=PKDN_PAPER,
                       config="pkdn_student_lfw.yaml", **_sr8))
register_preset(Preset("pkdn-teacher", "pkdn", {"n_rcab": 6, "prior_channels": 3, "pfb": True, "ffb": True},
                       "PKDN teacher x8: LR + parsing map, RCAGs + parsing-map fusion + feature fusion blocks",
                       paper=PKDN_PAPER, config="pkdn_teacher_lfw.yaml", **_sr8))
# PKDN's teacher is the "robust" network and the student the "streamlined" one (paper §3): both use RCAGs of
# 6 RCABs (the paper gives no sizes), the teacher adds a PFB after every stage's RCAG.
# Table 2 of the PKDN paper: without PFB and FFB, without FFB (the full model is pkdn / pkdn-teacher)
register_preset(Preset("pkdn-teacher-nopfb-noffb", "pkdn",
                       {"n_rcab": 6, "prior_channels": 3, "pfb": False, "ffb": False},
                       "PKDN ablation teacher: parsing map at the head, no PFB, no FFB", paper=PKDN_PAPER, **_sr8))
register_preset(Preset("pkdn-teacher-noffb", "pkdn", {"n_rcab": 6, "prior_channels": 3, "pfb": True, "ffb": False},
                       "PKDN ablation teacher: PFBs, no FFB", paper=PKDN_PAPER, **_sr8))
register_preset(Preset("pkdn-noffb", "pkdn", {"n_rcab": 6, "ffb": False},
                       "PKDN ablation student: RCAGs only, no FFB", paper=PKDN_PAPER, **_sr8))

# CPU presets (ours, not in the paper): a third of the width (32 channels), RCAGs of 2 RCABs and a global
# bicubic skip, so that teacher, distilled student and plain student each train within a 2-core CPU session
# (one batch-8 training step on 2 cores: student 0.57 s, teacher 0.89 s, against 4.5 s / 6.2 s at full size;
# benchmarks/results/pkdn_width.md). Same blocks and 9 paired stage features as pkdn / pkdn-teacher.
_lite = {"width": 32, "n_rcab": 2, "global_skip": True}
register_preset(Preset("pkdn-lite", "pkdn", {**_lite, "ffb": True},
                       "PKDN student x8 at CPU size: 32 channels, RCAGs of 2 RCABs, FFBs, global bicubic skip "
                       "(828,015 params)", paper=PKDN_PAPER, config="pkdn_lite_lfw.yaml",
                       weights="pkdn_lite.safetensors",
                       use="tiny, clean faces, x8: a small network distilled from a face-parsing teacher (PKDN)",
                       **_sr8))
register_preset(Preset("pkdn-teacher-lite", "pkdn", {**_lite, "prior_channels": 3, "pfb": True, "ffb": True},
                       "PKDN teacher x8 at CPU size: LR + parsing map, 32 channels, RCAGs of 2 RCABs, PFBs, FFBs, "
                       "global bicubic skip (1,106,556 params)", paper=PKDN_PAPER,
                       config="pkdn_teacher_lite_lfw.yaml", weights="pkdn_teacher_lite.safetensors", **_sr8))
