"""What the commands on a run share: the options of those that read one, the inputs of a run's
figures, and the figures."""
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from zoo.cli.options import option
from zoo.data.spec import DataSpec


@dataclass(frozen=True)
class RunOptions:
    """The options of every command that reads a run (``eval``, ``sample``, ``plot``, ...)."""

    run_dir: str = option(help="the run directory", positional=True)
    seed: int = option(0, "seeds the draws")
    data_root: Optional[str] = option(None, "the data root (default: the run's, else $VAEZOO_DATA)")


def figure_inputs(test: torch.Tensor, spec: DataSpec, n: int = 16) -> torch.Tensor:
    """``n`` test images spread evenly through the split (some splits are sorted by class), as
    evaluated after training (one seeded draw of them for dynamic binarization)."""
    return spec.fixed(test[torch.linspace(0, test.shape[0] - 1, min(n, test.shape[0])).long()])


SEQUENCE_MODELS = ("seq-vae", "dmm")


def sample_title(vae) -> str:
    """The title of samples.png: an autoencoder has no prior, so its "samples" decode noise."""
    if vae.config.get("model") == "ae":
        return "Decoded latent noise z ~ N(0, I) (an autoencoder has no prior)"
    return "Samples from the prior"


def write_figures(out: Path, vae, inputs, history, seed: int, num_samples=100, num_reconstructions=9):
    """samples.png, reconstructions.png and (with a history) training_curves.png; prints their paths."""
    from zoo import plots
    from zoo._utils.contexts import seeded

    if vae.config.get("model") in SEQUENCE_MODELS:  # curves, not image grids (zoo.plots.seq)
        from zoo.plots.seq import write_figures as write_sequence_figures
        for path in write_sequence_figures(out, vae, inputs, history, seed):
            print(f"wrote {path}")
        return
    with seeded(seed):
        paths = [plots.plot_samples(vae.sample(num_samples), out / "samples.png", title=sample_title(vae)),
                 plots.plot_reconstructions(inputs, vae.reconstruct(inputs, num_reconstructions),
                                            out / "reconstructions.png")]
    if history:
        paths.append(plots.plot_training_curves(history, out / "training_curves.png",
                                                title=f"{vae.config.get('model')} training curves"))
    for path in paths:
        print(f"wrote {path}")
