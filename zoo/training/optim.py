"""One torch optimizer over a module's parameters, usable as ``SVI``'s optimizer.

``pyro.optim.PyroOptim`` builds a separate torch optimizer for every parameter and steps
each one in a Python loop; for a VAE with a dozen tensors that loop costs about a third
of a training step on a CPU. :class:`ModuleOptim` steps a single optimizer over all of
the module's parameters instead (the hand-written PyTorch loop), and keeps its state in one
``state_dict`` for checkpoints.
"""
from typing import Callable, Iterable

import torch
from pyro.optim import PyroOptim

FUSABLE = ("adam", "adamw")
OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop}


class ModuleOptim(PyroOptim):
    """A ``PyroOptim`` that steps one torch optimizer over ``module.parameters()``.

    Args:
        optim_constructor: a ``torch.optim.Optimizer`` class.
        optim_args: keyword arguments for it (e.g. ``{"lr": 1e-3}``).
        module: the ``nn.Module`` whose parameters the model and guide use.

    Raises:
        ValueError: at a step, if the model/guide used a parameter outside ``module``.
    """

    def __init__(self, optim_constructor: Callable, optim_args: dict, module: torch.nn.Module):
        super().__init__(optim_constructor, optim_args)
        self.module = module
        self.optimizer = optim_constructor(module.parameters(), **optim_args)
        self._known = set(module.parameters())

    def __call__(self, params: Iterable[torch.Tensor], *args, **kwargs) -> None:
        unknown = [p for p in params if p not in self._known]
        if unknown:
            shapes = ", ".join(str(tuple(p.shape)) for p in unknown)
            raise ValueError(
                f"the model/guide used {len(unknown)} parameter(s) outside the optimized module "
                f"(shapes {shapes}); add them to the module or use pyro.optim.PyroOptim"
            )
        self.optimizer.step()
        # Grads set to None here make SVI's zero_grads a no-op, as in optimizer.zero_grad().
        self.optimizer.zero_grad(set_to_none=True)

    def get_state(self) -> dict:
        return self.optimizer.state_dict()

    def set_state(self, state_dict: dict) -> None:
        self.optimizer.load_state_dict(state_dict)


def module_optim(name: str, module: torch.nn.Module, **optim_args) -> ModuleOptim:
    """``ModuleOptim`` by optimizer name (``adam``, ``adamw``, ``sgd``, ``rmsprop``).

    Adam and AdamW default to torch's fused implementation (one kernel over all tensors;
    torch's own default on a CPU is a Python loop over them). It computes the same update
    up to float rounding; pass ``fused=False`` for the loop.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(sorted(OPTIMIZERS))}")
    if name in FUSABLE and "fused" not in optim_args and "foreach" not in optim_args:
        optim_args["fused"] = all(p.is_floating_point() for p in module.parameters())
    return ModuleOptim(OPTIMIZERS[name], optim_args, module)
