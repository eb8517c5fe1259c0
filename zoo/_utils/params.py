"""Parameters for plain ``pyro.infer.SVI``, without Pyro's global param store.

``zoo.fit`` steps a torch optimizer on the estimator's ``differentiable_loss`` under
``pyro.settings.context(module_local_params=True)`` (Pyro's module route): the parameters stay
in their modules and nothing is exposed. Plain ``SVI`` with a ``pyro.optim`` optimizer instead
finds the tensors it updates through the ``param`` sites of a trace, and reads each one as
``site["value"].unconstrained()``; :func:`expose` emits such sites for a module's parameters
straight from the module, so no model ever binds another's tensors through the store (two
models, or a copy of one, train side by side in one process).
"""
import weakref

import pyro
import torch
from pyro.poutine.runtime import effectful
from torch import nn


def module_local() -> bool:
    """True under ``pyro.settings.context(module_local_params=True)``."""
    return bool(pyro.settings.get("module_local_params"))


def _own_value(name, value):
    return value


_param_site = effectful(_own_value, type="param")


def expose(prefix: str, module: nn.Module) -> None:
    """A ``param`` site ``prefix.<name>`` for each trainable parameter of ``module``, unless
    parameters are module-local (then nothing: the optimizer already holds them).

    The site's value is an alias of the parameter carrying ``unconstrained()`` -> the parameter,
    which is what ``SVI`` and ``pyro.optim`` optimizers read from a param site.
    """
    if module_local():
        return
    for name, p in module.named_parameters():
        expose_param(f"{prefix}.{name}", p)


def expose_param(name: str, p: torch.Tensor) -> None:
    """The ``param`` site ``name`` for one parameter (see :func:`expose`)."""
    if p.requires_grad and not module_local():
        alias = p.detach()
        alias.unconstrained = weakref.ref(p)
        _param_site(name, alias, name=name)
