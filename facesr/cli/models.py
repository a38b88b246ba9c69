"""``facesr models [--params]``: list the registry's presets (and their exact parameter counts)."""
from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("models", help="list registry models",
                       description="List the registry's models: name (and aliases), architecture, LR->HR "
                                   "size, whether trained weights ship with facesr, and a description.")
    p.add_argument("--params", action="store_true", help="also count parameters (exact; built without memory)")
    p.set_defaults(fn=run)
    return p


def count_params(name: str) -> int:
    """Exact parameter count of registry preset ``name``.

    The network is built on torch's ``meta`` device (shapes only: no memory, no initialisation cost);
    a preset whose construction fails there is built normally instead.
    """
    import torch

    from ..registry import build

    try:
        with torch.device("meta"):
            net = build(name)
    except Exception:  # an architecture that computes on its weights while being built
        net = build(name)
    return sum(t.numel() for t in net.parameters())


def run(args) -> int:
    from ..registry import list_aliases, list_presets, weights_path

    presets = list_presets()
    aliases = list_aliases()
    rows = []
    for p in presets:
        w = weights_path(p)
        shipped = "yes" if (w is not None and w.is_file()) else "-"
        params = f"{count_params(p.name):,}" if args.params else ""
        al = ",".join(a for a, t in aliases.items() if t == p.name)
        rows.append((p.name + (f" ({al})" if al else ""), p.arch, f"{p.lr_size}->{p.hr_size}", shipped, params,
                     p.description))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    print(f"{'name':<{w0}}  {'arch':<{w1}} {'size':<9} {'weights':<7} {'params' if args.params else '':<11} description")
    for r in rows:
        print(f"{r[0]:<{w0}}  {r[1]:<{w1}} {r[2]:<9} {r[3]:<7} {r[4]:<11} {r[5]}")
    return 0
