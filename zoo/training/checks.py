"""The checks of ``zoo.fit``: the data before training and the parameters after each epoch
(the run directory's are :class:`zoo.training.Run`'s); and the error a diverged run raises."""
from typing import Optional

import pyro
import torch


class TrainingDiverged(RuntimeError):
    """Training produced a non-finite loss or parameter.

    Attributes:
        where: the epoch (``"epoch 3"``); step: the step within it (0: at the epoch's end);
        quantity: what was not finite; last_good_epoch: the last epoch saved with finite values.
    """

    def __init__(self, where: str, step: int, quantity: str, last_good_epoch: Optional[int] = None):
        self.where, self.step, self.quantity, self.last_good_epoch = where, step, quantity, last_good_epoch
        super().__init__(where, step, quantity)

    def __str__(self) -> str:
        at = f"{self.where}, step {self.step}" if self.step else f"the end of {self.where}"
        kept = f"; the checkpoint of epoch {self.last_good_epoch} is kept" if self.last_good_epoch else ""
        return f"training diverged at {at}: {self.quantity}{kept}; try a lower learning rate (--lr)"


def check_finite(vae, estimator, epoch: int) -> None:
    """``TrainingDiverged`` if a parameter or buffer of the model or the estimator is not finite."""
    modules = [("", vae)] + ([("estimator.", estimator)] if isinstance(estimator, torch.nn.Module) else [])
    for prefix, module in modules:
        for name, t in module.state_dict().items():
            if t.is_floating_point() and not torch.isfinite(t).all():
                raise TrainingDiverged(f"epoch {epoch}", 0, f"{prefix}{name} is not finite")


def as_model_data(vae, x, name: str, binarize: Optional[str]) -> torch.Tensor:
    """``x`` checked (a non-empty tensor of the model's data shape, valid for its likelihood) and
    cast to the model's floating dtype."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 0 or x.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}); it needs at least one example")
    dtype = next((p.dtype for p in vae.parameters() if p.is_floating_point()), torch.get_default_dtype())
    if x.dtype != dtype:
        if x.dtype.is_complex:
            raise TypeError(f"{name} has dtype {x.dtype}; expected real data (it is cast to the model's {dtype})")
        x = x.to(dtype)
    check_data(vae, x, name, binarize)
    return x


def check_data(vae, x, name: str, binarize: Optional[str]) -> None:
    # Whatever the global validation flag: this one check stands in for all per-step checks.
    with pyro.validation_enabled(True):
        vae.check_input(x, name) if binarize is None else _check_probabilities(vae, x, name)


def _check_probabilities(vae, x, name: str) -> None:
    with pyro.validation_enabled(False):
        vae.check_input(x, name)
    if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise ValueError(f"{name} must hold intensities in [0, 1] for dynamic binarization")
