"""What ``train``, ``sample``, ``eval`` and ``plot`` share: a run's data and its figures."""
from pathlib import Path

import torch

RUN_FILES = ("checkpoint.pt", "checkpoint.prev.pt", "history.json", "config.json", "data.json", "samples.png",
             "reconstructions.png", "training_curves.png")
DATA_FILE = "data.json"


def load_data(spec: dict):
    """The (train, test) splits a run's data spec (``data.json``) describes."""
    import zoo

    binarize = spec["binarize"] if spec["binarize"] in ("static", "threshold") else None
    ds = zoo.data.load(spec["dataset"], spec.get("data_root"), download=spec.get("download", False),
                       binarize=binarize, seed=spec["seed"])
    train, test = ds.train, ds.test
    if spec.get("train_size"):
        train = train[: spec["train_size"]]
    if spec.get("test_size"):
        test = test[: spec["test_size"]]
    return train, test


def figure_inputs(test, spec: dict, n: int = 16):
    """``n`` test images spread evenly through the split (some splits are sorted by class);
    with dynamic binarization, one seeded Bernoulli draw of them."""
    import zoo

    x = test[torch.linspace(0, test.shape[0] - 1, min(n, test.shape[0])).long()]
    if spec["binarize"] == "dynamic":
        x = zoo.data.binarize(x, "static", torch.Generator().manual_seed(spec["seed"]))
    return x


def sample_title(vae) -> str:
    """The title of samples.png: an autoencoder has no prior, so its "samples" decode noise."""
    if vae.config.get("model") == "ae":
        return "Decoded latent noise z ~ N(0, I) (an autoencoder has no prior)"
    return "Samples from the prior"


def write_figures(out: Path, vae, inputs, history, seed: int, num_samples=100, num_reconstructions=9):
    """samples.png, reconstructions.png and (with a history) training_curves.png; prints their paths."""
    from zoo import plots
    from zoo._utils.contexts import seeded

    if vae.config.get("model") == "seq-vae":  # curves, not image grids (zoo.plots.seq)
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
