r"""Data-parallel training across processes started by ``torchrun``, with PyTorch's own engine.

``torchrun --standalone --nproc-per-node N "$(command -v vaezoo)" train ...`` starts N processes;
:func:`setup` joins them into one process group (gloo on a CPU, NCCL on GPUs) from torchrun's
environment, and :class:`LossModule` wraps the estimator's ``differentiable_loss`` as a module
that ``torch.nn.parallel.DistributedDataParallel`` runs, so that DDP all-reduces the gradients.

The global batch (``batch_size``) is split into N contiguous shards, one a rank. DDP averages
the ranks' gradients, so each rank's loss is multiplied by N: the update is that of one
process on the whole batch (same parameters up to float rounding, when the noise is the same).
Each rank draws its particles from a seed derived from ``(seed, rank)``; rank 0's is the
single-process seed. Only rank 0 writes files.
"""
import os
from dataclasses import dataclass
from typing import Optional

import pyro
import torch
import torch.distributed as dist
from torch import nn

RANK_SEED_STRIDE = 7919  # a prime: rank r's epoch seeds never meet rank 0's for another epoch


@dataclass
class World:
    """This process's place in the group: ``rank`` of ``size`` (1: a single process)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, x: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous part of a global batch."""
        return x if self.size == 1 else torch.tensor_split(x, self.size)[self.rank]

    def sum(self, value: torch.Tensor) -> torch.Tensor:
        """The sum of ``value`` over the ranks."""
        if self.size > 1:
            value = value.clone()
            dist.all_reduce(value, op=dist.ReduceOp.SUM)
        return value

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()


def environment() -> World:
    """This process's place as torchrun's environment describes it, without joining the group
    (e.g. to know whether this process is the one that writes)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    return World(int(os.environ.get("RANK", "0")), size, int(os.environ.get("LOCAL_RANK", "0")))


def setup(device: Optional[torch.device] = None) -> World:
    """The process group torchrun's environment describes (joined once), else a single process."""
    world = environment()
    if world.size == 1:
        return world
    if not dist.is_initialized():
        cuda = device is not None and torch.device(device).type == "cuda"
        if cuda:
            torch.cuda.set_device(world.local_rank)
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), world.local_rank)


def teardown() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def device_for(device: torch.device, world: World) -> torch.device:
    """``cuda`` means this rank's GPU (``cuda:LOCAL_RANK``) under torchrun."""
    if device.type == "cuda" and world.size > 1 and device.index is None:
        return torch.device("cuda", world.local_rank)
    return device


class LossModule(nn.Module):
    """``forward(x)`` = ``scale * estimator.differentiable_loss(vae.model, vae.guide, x)``, with the
    parameters module-local: the module DistributedDataParallel wraps (Pyro's ``ELBOModule``
    for a model and guide that are methods of one module)."""

    def __init__(self, vae: nn.Module, estimator, scale: float = 1.0):
        super().__init__()
        # an estimator with state (an nn.Module) becomes a submodule, so DDP syncs its buffers
        self.vae, self.estimator, self.scale = vae, estimator, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with pyro.settings.context(module_local_params=True):
            return self.scale * self.estimator.differentiable_loss(self.vae.model, self.vae.guide, x)


def wrap(vae: nn.Module, estimator, world: World) -> Optional[nn.Module]:
    """The DDP-wrapped loss for ``world`` (None for a single process)."""
    if world.size == 1:
        return None
    module = LossModule(vae, estimator, scale=float(world.size))
    device_ids = [world.local_rank] if next(vae.parameters()).is_cuda else None
    return nn.parallel.DistributedDataParallel(module, device_ids=device_ids)
