"""Data-parallel training on torch.distributed, launched by ``torchrun``.

We use PyTorch's own DistributedDataParallel rather than a layer over it (Accelerate, Fabric): the
trainer already owns its loop, checkpoints and sampler, DDP adds one wrapper and one all-reduce, and it
keeps the install to torch alone. ``torchrun --nproc_per_node=N -m facesr.cli train -c CONFIG`` (or
``--nnodes``/``--rdzv-endpoint`` for several machines) sets RANK/WORLD_SIZE/LOCAL_RANK; the trainer
reads them here. NCCL on GPUs, gloo on CPUs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_type: str = "cpu", backend: str | None = None) -> DistInfo:
    """Join the process group described by torchrun's environment (no-op for a single process)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    if not dist.is_initialized():
        backend = backend or ("nccl" if device_type == "cuda" else "gloo")
        if device_type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistInfo(rank, world, local)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def mean_across(values: dict[str, float], info: DistInfo) -> dict[str, float]:
    """Average scalar logs over ranks (for logging only)."""
    if not info.enabled or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=_comm_device(info))
    dist.all_reduce(t)
    t /= info.world_size
    return {k: float(v) for k, v in zip(keys, t)}


def _comm_device(info: DistInfo) -> torch.device:
    """Where a collective's tensor must live: NCCL only moves CUDA tensors, gloo takes CPU ones."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", info.local_rank)
    return torch.device("cpu")


def any_across(flag: bool, info: DistInfo) -> bool:
    """True on every rank when ``flag`` is true on any (so all ranks leave a loop at the same step)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=_comm_device(info))
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def broadcast_object(obj, info: DistInfo):
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shutdown(info: DistInfo) -> None:
    """Leave the process group together: a rank that tears gloo down while another still talks to it can
    abort ("terminate called without an active exception")."""
    if info.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def average_gradients(params, info: DistInfo) -> None:
    """All-reduce (mean) the gradients of ``params`` across ranks: how networks that are not wrapped in
    DDP (discriminators, whose losses need double backward for a gradient penalty) stay in step."""
    if not info.enabled:
        return
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= info.world_size
