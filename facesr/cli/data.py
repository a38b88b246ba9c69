"""``facesr data -c CONFIG [key=value ...]``: build the decoded HR caches a config's data sections use, and
the landmark / parsing priors they ask for with ``auto``."""
from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("data", help="build the decoded data caches a config uses",
                       description="Decode a config's train and val faces into their .npy caches, and build "
                                   "the priors it sets to auto (data.*.landmarks: dlib's 68 landmarks; "
                                   "data.*.priors.parsing: maps rasterised from them): what `facesr train` "
                                   "would do before its first step. A bundled config finds its "
                                   "datasets under $FACESR_DATA (default: ../shared/data next to the "
                                   "checkout), whatever the working directory.")
    p.add_argument("-c", "--config", required=True, help="config file or bundled config name, e.g. sparnet_tiny")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. data.train.root=/data/lfw")
    p.set_defaults(fn=run)
    return p


def run(args) -> int:
    from ..data.sources import hr_array
    from ..training.config import load_config
    from ..training.recipes import get_recipe
    from ..training.paths import check_data_folders

    cfg = load_config(args.config, args.overrides)
    check_data_folders(cfg)
    recipe = get_recipe(cfg["recipe"])
    hr_size = recipe.data_hr_size(cfg)
    for part in ("train", "val"):
        d = cfg["data"][part]
        if d.get("root") or d.get("cache"):
            arr = hr_array(d, hr_size, progress=True)
            print(f"{part}: {len(arr)} faces of {arr.shape[1]}x{arr.shape[2]} -> {d.get('cache') or '(no cache)'}")
            for name, path in recipe.data_prior_files(cfg, part):
                print(f"{part}: {name} -> {path}")
    return 0

