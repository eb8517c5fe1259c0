r"""From a finished training run to a pretrained entry: weights, card, manifest.

:func:`export` reads a run directory under its shared lock (no writer can change it meanwhile):
the checkpoint's model, ``config.json``'s fit config, ``history.json``, ``data.json`` and the
``eval.json`` of ``vaezoo eval`` on the full test set; it measures the card's check numbers,
and adds the model to a weights root (:func:`zoo.pretrained.store.add`).
"""
from pathlib import Path
from typing import Optional

from zoo._utils.io import read_json
from zoo.pretrained import cards, store
from zoo.pretrained.recipes import Recipe
from zoo.training import CONFIG, EVAL, HISTORY, Run, load


def export(recipe: Recipe, run_dir, root=None, data_root: Optional[str] = None, overwrite: bool = False,
           check_samples: int = cards.CHECK_SAMPLES) -> dict:
    """Add the model trained in ``run_dir`` by ``recipe`` to the weights ``root``; its card (whose
    command names the canonical run folder, ``runs/pretrained/NAME``, wherever this one was).

    Refuses a run whose ``eval.json`` is missing or not of the whole test split (the card's
    test numbers are the full test set's).
    """
    with Run(run_dir).reading() as run:
        model = load(run.path)
        spec = run.read_data()
        fit = read_json(run.file(CONFIG))["fit"]
        history = read_json(run.file(HISTORY))
        test = cards.fixed_test(spec, data_root)
        result = _full_eval(run.file(EVAL), test.shape[0])
        check = cards.measure_check(model, test, num_samples=check_samples)
        card = cards.make_card(recipe.name, recipe.summary, recipe.command(), model, spec.to_dict(), fit,
                               history, cards.eval_numbers(result), check)
        store.add(recipe.name, model, card, root, overwrite=overwrite)
    return card


def _full_eval(path: Path, n: int) -> dict:
    """``eval.json``, refused unless it measured all ``n`` test points."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `vaezoo eval {path.parent}` first")
    result = read_json(path)
    if result["num_datapoints"] != n or result.get("stride", 1) != 1:
        raise ValueError(f"{path} measured {result['num_datapoints']} test points (stride {result.get('stride', 1)}); "
                         f"a card needs the whole test split ({n}): run `vaezoo eval {path.parent}` again")
    return result


__all__ = ["export"]
