"""``vaezoo plot RUN_DIR``: every figure of a run, as PNG in the run directory (under a shared lock)."""
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from zoo._utils.contexts import seeded
from zoo.cli.options import PositiveInt, option
from zoo.cli.parsing import add_command
from zoo.cli.runs import SEQUENCE_MODELS, RunOptions, sample_title

# Pairs of classes whose mean codes the interpolation figure joins (1 and 8 first, as in the
# convolutional-VAE interpolation tutorial).
CLASS_PAIRS = ((1, 8), (0, 6), (3, 5), (4, 9), (2, 7))


@dataclass(frozen=True)
class PlotOptions(RunOptions):
    """The options of ``vaezoo plot``."""

    test_size: Optional[PositiveInt] = option(None, "the first N test points (default: the run's)")


def add_parser(sub) -> None:
    add_command(sub, "plot", PlotOptions, run, help="write every figure of a run (PNG) and print their paths")


def run(opts: PlotOptions) -> int:
    from zoo.training import EVAL, Run, load

    with Run(opts.run_dir).reading() as run:
        vae = load(run.path)
        spec = run.read_data()
        ds = spec.load(opts.data_root)
        x = spec.fixed(ds.test[: opts.test_size])
        labels = None if ds.test_labels is None else ds.test_labels[: opts.test_size]
        result = run.fresh_eval()
        if vae.config.get("model") in SEQUENCE_MODELS:  # curves (zoo.plots.seq)
            from zoo.plots.seq import write_figures as write_sequence_figures
            paths = write_sequence_figures(run.path, vae, x[:8], run.history(), opts.seed)
        else:
            with seeded(opts.seed):
                paths = _sample_figures(run, vae, x, result) + _latent_figures(run.path, vae, x, labels)
        if result is not None and result["per_datapoint"].get("khat"):
            from zoo import plots

            khat = torch.tensor([-math.inf if v is None else v for v in result["per_datapoint"]["khat"]])
            paths.append(plots.plot_khat_histogram(khat, run.file("khat_histogram.png"),
                                                   title=f"PSIS k-hat per test point, S={result['num_samples']}"))
        elif vae.config.get("model") == "ae":
            print("the autoencoder has no log-likelihood, so no k-hat histogram")
        else:
            print(f"no current {EVAL}: run `vaezoo eval {run.path}` first for the k-hat histogram")
    for path in paths:
        print(f"wrote {path}")
    return 0


@torch.no_grad()
def _sample_figures(run, vae, x, result) -> list:
    from zoo import plots

    history, out = run.history(), run.path
    inputs = x[torch.linspace(0, x.shape[0] - 1, min(8, x.shape[0])).long()]
    paths = [plots.plot_samples(vae.sample(100), out / "samples.png",
                                title=sample_title(vae)),
             plots.plot_reconstructions(inputs, vae.reconstruct(inputs, 9), out / "reconstructions.png"),
             plots.plot_many_reconstructions(inputs[0], vae.reconstruct(inputs[:1], 30)[:, 0],
                                             out / "reconstructions_one_input.png")]
    if history:
        ll = result["log_likelihood"] if result else None
        paths.append(plots.plot_training_curves(history, out / "training_curves.png", log_likelihood=ll,
                                                num_samples=result["num_samples"] if result else None,
                                                title=f"{vae.config.get('model')} training curves"))
    return paths


@torch.no_grad()
def _latent_figures(run: Path, vae, x, labels) -> list:
    from zoo import plots
    from zoo.evaluation import latent

    codes = latent.posterior_means(vae.encode, x)
    ends = torch.linspace(0, x.shape[0] - 1, min(10, x.shape[0])).long()
    pairs = [(int(a), int(b)) for a, b in zip(ends[0::2], ends[1::2])]
    rows = torch.stack([vae.generate(latent.interpolate(codes[a], codes[b], 10)) for a, b in pairs])
    paths = [plots.plot_interpolations(rows, run / "interpolation_inputs.png", [f"#{a} to #{b}" for a, b in pairs],
                                       title="Interpolation between the codes E[z|x] of two test inputs")]
    centres = codes[ends[:6]]
    perturbed = torch.stack([torch.cat([c[None], latent.perturb(c, 9)]) for c in centres])
    paths.append(plots.plot_perturbations(vae.generate(perturbed), run / "perturbations.png",
                                          [f"#{int(i)}" for i in ends[:6]]))
    keep = torch.arange(min(2000, x.shape[0]))
    paths.append(plots.plot_latent_scatter(codes[keep], run / "latent_scatter.png",
                                           labels[keep] if labels is not None else None,
                                           title=f"Posterior means E[z|x] of {len(keep)} test points"))
    if labels is not None:
        paths += _class_figures(run, vae, codes, labels)
    else:
        print("the dataset has no labels: no class-mean figures")
    return paths


@torch.no_grad()
def _class_figures(run: Path, vae, codes, labels) -> list:
    from zoo import plots
    from zoo.evaluation import latent

    classes, means = latent.class_means(codes, labels)
    index = {int(c): i for i, c in enumerate(classes)}
    pairs = [p for p in CLASS_PAIRS if p[0] in index and p[1] in index] or \
        [(int(a), int(b)) for a, b in zip(classes[:-1], classes[1:])][:5]
    decoded = vae.generate(means)[None]
    paths = [plots.plot_image_rows(decoded, run / "class_means.png", title="Decoded class-mean codes",
                                   xlabel="class " + " ".join(str(int(c)) for c in classes), row_labels=["mean"])]
    if pairs:
        rows = torch.stack([vae.generate(latent.interpolate(means[index[a]], means[index[b]], 10)) for a, b in pairs])
        paths.append(plots.plot_interpolations(rows, run / "interpolation_class_means.png",
                                               [f"{a} to {b}" for a, b in pairs],
                                               title="Interpolation between class-mean codes"))
    return paths
