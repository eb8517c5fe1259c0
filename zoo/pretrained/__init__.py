r"""Pretrained models: trained weights with cards, loaded by name, re-measured on demand.

    >>> import zoo
    >>> zoo.pretrained.names()                     # doctest: +SKIP
    >>> vae = zoo.pretrained.load("vae-diagonal")  # doctest: +SKIP
    >>> zoo.pretrained.card("vae-diagonal")["test"]["neg_log_likelihood"]  # doctest: +SKIP

The weights live in ``weights/`` in the repository (``$VAEZOO_WEIGHTS`` or ``root=`` elsewhere):
one state-dict file per model, checked against the SHA-256 in ``manifest.json`` before it is
loaded with ``weights_only=True``. Every model is made by a ``vaezoo train`` command
(:data:`RECIPES`), evaluated on its full test set by ``vaezoo eval`` and added by
``vaezoo pretrained build NAME``; ``vaezoo pretrained eval NAME`` re-measures a card.
"""
from zoo.pretrained.cards import agrees, measure_check
from zoo.pretrained.recipes import RECIPES, Recipe
from zoo.pretrained.store import WEIGHTS_ENV, DamagedWeights, card, load, names, root, total_size

__all__ = ["RECIPES", "WEIGHTS_ENV", "DamagedWeights", "Recipe", "agrees", "card", "load", "measure_check", "names",
           "root", "total_size"]
