r"""The convolutional VAE study (seeds 003 and 004): ``vaezoo experiment conv-vae``.

Trains ``zoo.build("conv-vae", ...)`` with ``zoo.fit`` on a fixed budget (a number of training
images and epochs) and reports the test ELBO and KL -- always of the plain model, whatever the
KL weight beta used in training -- and optionally an importance-weighted (IWAE) estimate of
log p(x) [1]. Figures, in the run directory beside ``checkpoint.pt`` and ``history.json``:

    samples.png          decoder means at z ~ p(z)
    reconstructions.png  test inputs (left) and decoder means at z ~ q(z|x)
    interpolations.png   decoder means along z_t = (1 - t) z_a + t z_b between the guide means of
                         pairs of test images (seed 003) and, with labels, of two class means
                         (seed 004: the mean of q's means over the test images of each class)
    class_means.png      the decoded class-mean codes (seed 004), where labels exist
    training_curves.png  ELBO and KL per epoch

Images of the ``*-centered`` datasets are mapped back from [-1, 1] to [0, 1] for display.

References:
    [1] Burda, Grosse, Salakhutdinov. Importance Weighted Autoencoders. arXiv:1509.00519
"""
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional, Tuple

import torch

from zoo._utils.io import write_json
from zoo.cli.options import NonNegativeInt, PositiveFloat, PositiveInt, option
from zoo.cli.parsing import add_command, plain

INTERPOLATION_STEPS = 10
CLASS_PAIRS = ((1, 8), (3, 5), (0, 6))  # seed 004 interpolates from class 1 to class 8
NUM_PAIRS = 6  # pairs of test images interpolated (seed 003)


@torch.no_grad()
def write_figures(vae, test, test_labels, history, out: Path, centered: bool, seed: int = 0) -> list:
    """The figures listed in the module docstring, with batch norm in eval mode; returns their paths."""
    from zoo import plots
    from zoo._utils.contexts import evaluating, seeded
    from zoo.evaluation import latent

    show = (lambda x: ((x + 1) / 2).clamp(0, 1)) if centered else (lambda x: x)
    inputs = test[torch.linspace(0, test.shape[0] - 1, 8).long()]
    with seeded(seed), evaluating(vae):
        paths = [plots.plot_samples(show(vae.sample(100)), out / "samples.png"),
                 plots.plot_reconstructions(show(inputs), show(vae.reconstruct(inputs, 5)),
                                            out / "reconstructions.png")]
        codes = latent.posterior_means(vae.encode, test)
        ends = torch.arange(2 * NUM_PAIRS).reshape(NUM_PAIRS, 2) * (test.shape[0] // (2 * NUM_PAIRS))
        starts, stops = codes[ends[:, 0]], codes[ends[:, 1]]
        labels = [f"test {a} -> {b}" for a, b in ends.tolist()]
        if test_labels is not None:
            classes, means = latent.class_means(codes, test_labels)
            paths.append(plots.plot_samples(show(vae.generate(means)), out / "class_means.png",
                                            title=f"Decoded class means of E[z|x], classes {classes.tolist()}",
                                            ncols=len(classes)))
            index = {c: i for i, c in enumerate(classes.tolist())}
            pairs = [(a, b) for a, b in CLASS_PAIRS if a in index and b in index]
            starts = torch.cat([starts] + [means[index[a]][None] for a, _ in pairs])
            stops = torch.cat([stops] + [means[index[b]][None] for _, b in pairs])
            labels += [f"class {a} -> {b}" for a, b in pairs]
        path = latent.interpolate(starts, stops, INTERPOLATION_STEPS).transpose(0, 1)  # (rows, steps, d)
        images = vae.generate(path.reshape(-1, path.shape[-1])).reshape(path.shape[:2] + test.shape[1:])
        paths.append(plots.plot_interpolations(show(images), out / "interpolations.png", row_labels=labels))
    paths.append(plots.plot_training_curves(history, out / "training_curves.png", title="conv-vae training curves"))
    return paths


def log_likelihood(vae, x: torch.Tensor, num_samples: int, seed: int = 0) -> dict:
    """IWAE estimate of log p(x) with its standard error, for the plain model (eval mode) [1]."""
    from zoo._utils.contexts import evaluating
    from zoo.evaluation.likelihood import log_likelihood as estimate

    with evaluating(vae):
        summary = estimate(vae.model, vae.guide, x, num_samples=num_samples, batch_size=50, seed=seed).summary()
    return {k: summary[k] for k in ("log_likelihood", "log_likelihood_stderr", "elbo", "ess_mean")}


def build(args, data_shape):
    """The conv-vae the arguments describe; ``--mse-kl-weight w`` picks the Gaussian scale that
    makes the objective proportional to seed 004's ``MSE + w * KL_mean`` (``zoo.models.conv_vae.mse_kl_options``)."""
    import zoo
    from zoo.models.conv_vae import mse_kl_options

    options = {"likelihood": args.likelihood or "bernoulli", "beta": args.beta}
    if args.likelihood_scale is not None:
        options["likelihood_options"] = {"scale": args.likelihood_scale}
    if args.mse_kl_weight is not None:
        options = mse_kl_options(data_shape, args.latent_dim, args.mse_kl_weight, args.beta)
    return zoo.build("conv-vae", data_shape=tuple(data_shape), latent_dim=args.latent_dim,
                     channels=tuple(args.channels), guide=args.guide, decoder_output=args.decoder_output, **options)


def run(args) -> dict:
    """Train on ``args.train_size`` images for ``args.epochs`` epochs; results.json and figures in ``args.out``."""
    import pyro

    import zoo

    if args.mse_kl_weight is not None and (args.likelihood_scale is not None
                                           or args.likelihood not in (None, "gaussian")):
        raise ValueError("--mse-kl-weight sets the gaussian likelihood and its scale: drop --likelihood "
                         f"{args.likelihood} / --likelihood-scale {args.likelihood_scale}")
    binarize = None if args.binarize == "none" else args.binarize
    ds = zoo.data.load(args.dataset, args.data_root, binarize=binarize, seed=args.seed)
    train, test = ds.train[: args.train_size], ds.test[: args.test_size]
    labels = None if ds.test_labels is None else ds.test_labels[: args.test_size]
    out = Path(args.out or f"runs/conv-vae-{args.dataset}-seed{args.seed}")
    pyro.set_rng_seed(args.seed)
    vae = build(args, train.shape[1:])
    start = time.perf_counter()
    history = zoo.fit(vae, train, test=test, epochs=args.epochs, out_dir=out, progress=not args.no_progress,
                      batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    result = _summary(args, vae, history, train.shape[0], test.shape[0])
    if args.iwae_particles:
        result["test_log_likelihood"] = {"num_samples": args.iwae_particles,
                                         **log_likelihood(vae, test, args.iwae_particles, args.seed)}
    centered = args.dataset.endswith("-centered")
    result["figures"] = [str(p) for p in write_figures(vae, test, labels, history, out, centered, args.seed)]
    result["wall_time_s"] = time.perf_counter() - start
    write_json(out / "results.json", result)
    ll = result.get("test_log_likelihood")
    iwae = f", test log p(x) ~ {ll['log_likelihood']:.2f} (IWAE, S = {ll['num_samples']})" if ll else ""
    print(f"{args.dataset}: test ELBO {result['test_elbo']:.2f} nats, test KL {result['test_kl']:.2f}{iwae} after "
          f"{args.epochs} epochs on {train.shape[0]} images ({result['train_time_s']:.0f} s of training)")
    for path in result["figures"] + [str(out / "results.json")]:
        print(f"wrote {path}")
    return result


def _summary(args, vae, history, num_train: int, num_test: int) -> dict:
    """The run's configuration, budget and final numbers (nats per image)."""
    last = history[-1]
    return {
        "study": "conv-vae",
        "config": plain(dataclasses.asdict(args)),
        "model": vae.config,
        "budget": {"train_images": num_train, "test_images": num_test, "epochs": args.epochs,
                   "steps": args.epochs * -(-num_train // args.batch_size), "torch_threads": torch.get_num_threads()},
        "test_elbo": last["test_elbo"], "test_kl": last["test_kl"], "train_elbo": last["train_elbo"],
        # the weighted objective L_beta (running mean over the last epoch, training mode)
        "training_objective": -last["loss"],
        "train_time_s": sum(r["train_time_s"] for r in history), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


@dataclass(frozen=True)
class ConvOptions:
    """The options of ``vaezoo experiment conv-vae``."""

    dataset: str = option("mnist32", "e.g. mnist32, mnist32-centered, cifar10-subset-centered")
    data_root: Optional[str] = option(None, "data root (default: $VAEZOO_DATA)")
    binarize: Literal["none", "static", "threshold"] = option("none", "binarize once at load")
    train_size: PositiveInt = option(3000, "the first N training images")
    test_size: PositiveInt = option(1000, "the first N test images")
    latent_dim: PositiveInt = option(32, "the dimension of z")
    channels: Tuple[PositiveInt, ...] = option((32, 64, 128), "encoder conv channels")
    likelihood: Optional[str] = option(None, "bernoulli (default), gaussian, gaussian-learned")
    likelihood_scale: Optional[PositiveFloat] = option(None, "the fixed scale of the gaussian likelihood")
    mse_kl_weight: Optional[PositiveFloat] = option(
        None, "gaussian likelihood whose objective is proportional to MSE + w * KL_mean (seed 004: 0.1)")
    decoder_output: Literal["linear", "tanh"] = option("linear", "tanh squashes the Gaussian mean into (-1, 1)")
    beta: PositiveFloat = option(1.0, "KL weight in training (1: the ELBO)")
    guide: str = option("diagonal", "the guide")
    epochs: PositiveInt = option(3, "the number of epochs")
    batch_size: PositiveInt = option(64, "the minibatch size")
    lr: PositiveFloat = option(1e-3, "the learning rate")
    seed: int = option(0, "seeds the data, the weights and the noise")
    iwae_particles: NonNegativeInt = option(0, "S of a final IWAE estimate of log p(x) (0: skip)")
    out: Optional[str] = option(None, "run directory (default: runs/conv-vae-<dataset>-seed<seed>)")
    no_progress: bool = option(False, "no progress bars")


def add_parser(sub) -> None:
    add_command(sub, "conv-vae", ConvOptions, _run_cli,
                help="train conv-vae on a fixed budget; ELBO, samples, interpolations")


def _run_cli(opts: ConvOptions) -> int:
    run(opts)
    return 0
