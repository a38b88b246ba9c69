"""Shared by the benchmark scripts: the command line that reproduces a result, paths as reports show them, and writing the result."""
from __future__ import annotations

import sys
from pathlib import Path


def command(script: str, argv=None) -> str:
    """``python benchmarks/SCRIPT ARGS`` as this run was called (``argv``: None = ``sys.argv[1:]``)."""
    import shlex

    return "python " + shlex.join([f"benchmarks/{script}"] + list(argv if argv is not None else sys.argv[1:]))


def shown_path(path) -> str:
    """``path`` as a report shows it: relative to the repository when inside it (no machine paths)."""
    root = Path(__file__).resolve().parents[1]
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return str(path)


def write_report(path, lines) -> None:
    """Write the markdown ``lines`` to ``path`` (atomically, folders made) and print them."""
    from facesr.fsutil import atomic_write

    text = "\n".join(lines) + "\n"
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write(text.encode()))
    print(text, end="")


def missing(*paths, dlib: bool = False) -> str | None:
    """Why this benchmark cannot run here (a data folder in ``paths`` is missing, or ``dlib=True`` and
    dlib is not installed), or None: the scripts print ``skipped: REASON`` and exit 0."""
    for p in paths:
        if not Path(p).is_dir():
            return f"{p} not found"
    if dlib:
        import importlib.util

        if importlib.util.find_spec("dlib") is None:
            return "dlib is not installed (pip install 'facesr[faces]')"
    return None


def median_step_seconds(tr, reps: int, warmup: int) -> float:
    """Median wall seconds of one ``tr.training_step`` (next batch excluded) over ``reps`` steps after
    ``warmup`` untimed ones; ``tr`` is a facesr trainer, left at whatever step it was set to."""
    import statistics
    import time

    times = []
    for i in range(warmup + reps):
        batch = tr.sampler.next_batch()
        t0 = time.perf_counter()
        tr.training_step(batch)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)
