"""Worker for tests/test_distributed.py: one rank of a gloo data-parallel training run."""
import os


def run(rank: int, world: int, port: int, raw: dict, steps: int | None, resume: bool) -> None:
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
                       "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank)})
    import torch

    torch.set_num_threads(1)
    from facesr.training.config import load_config
    from facesr.training.distributed import shutdown
    from facesr.training.trainer import make_trainer

    by_rank = raw.pop("max_minutes_by_rank", None)  # a time limit that only some ranks reach
    if by_rank is not None:
        raw["train"]["max_minutes"] = by_rank[rank]
    tr = make_trainer(load_config(raw=raw), resume=resume, progress=False)
    tr.fit(steps=steps)
    shutdown(tr.dist)
