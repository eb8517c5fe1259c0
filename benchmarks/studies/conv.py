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
import time
from pathlib import Path

import torch
from zoo._utils.io import write_json

INTERPOLATION_STEPS = 10
CLASS_PAIRS = ((1, 8), (3, 5), (0, 6))  # seed 004 interpolates from class 1 to class 8
NUM_PAIRS = 6  # pairs of test images interpolated (seed 003)


@torch.no_grad()
def write_figures(vae, test, test_labels, history, out: Path, centered: bool, seed: int = 0) -> list:
    """The figures listed in the module docstring, with batch norm in eval mode; returns their paths."""
    from zoo import plots
    from zoo.evaluation import latent
    from zoo._utils.contexts import evaluating

    show = (lambda x: ((x + 1) / 2).clamp(0, 1)) if centered else (lambda x: x)
    inputs = test[torch.linspace(0, test.shape[0] - 1, 8).long()]
    with torch.random.fork_rng(devices=[]), evaluating(vae):
        torch.manual_seed(seed)
        paths = [plots.plot_samples(show(vae.sample(100)), out / "samples.png"),
                 plots.plot_reconstructions(show(inputs), show(vae.reconstruct(inputs, 5)), out / "reconstructions.png")]
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
    return zoo.build("conv-vae", data_shape=tuple(data_shape), latent_dim=args.latent_dim, channels=tuple(args.channels),
                     guide=args.guide, decoder_output=args.decoder_output, **options)


def run(args) -> dict:
    """Train on ``args.train_size`` images for ``args.epochs`` epochs; results.json and figures in ``args.out``."""
    import pyro
    import zoo

    if args.mse_kl_weight is not None and (args.likelihood_scale is not None or args.likelihood not in (None, "gaussian")):
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
        "config": {k: v for k, v in vars(args).items() if k not in ("run", "command", "study")},
        "model": vae.config,
        "budget": {"train_images": num_train, "test_images": num_test, "epochs": args.epochs,
                   "steps": args.epochs * -(-num_train // args.batch_size), "torch_threads": torch.get_num_threads()},
        "test_elbo": last["test_elbo"], "test_kl": last["test_kl"], "train_elbo": last["train_elbo"],
        # the weighted objective L_beta (running mean over the last epoch, training mode)
        "training_objective": -last["loss"],
        "train_time_s": sum(r["train_time_s"] for r in history), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def add_parser(sub) -> None:
    p = sub.add_parser("conv-vae", help="train conv-vae on a fixed budget; ELBO, samples, interpolations")
    p.add_argument("--dataset", default="mnist32", help="e.g. mnist32, mnist32-centered, cifar10-subset-centered")
    p.add_argument("--data-root", default=None, help="data root (default: $VAEZOO_DATA)")
    p.add_argument("--binarize", default="none", choices=["none", "static", "threshold"])
    p.add_argument("--train-size", type=int, default=3000, help="the first N training images")
    p.add_argument("--test-size", type=int, default=1000, help="the first N test images")
    p.add_argument("--latent-dim", type=int, default=32)
    p.add_argument("--channels", type=int, nargs="+", default=[32, 64, 128])
    p.add_argument("--likelihood", default=None, help="bernoulli (default), gaussian, gaussian-learned")
    p.add_argument("--likelihood-scale", type=float, default=None, help="the fixed scale of the gaussian likelihood")
    p.add_argument("--mse-kl-weight", type=float, default=None,
                   help="gaussian likelihood whose objective is proportional to MSE + w * KL_mean (seed 004: 0.1)")
    p.add_argument("--decoder-output", default="linear", choices=["linear", "tanh"])
    p.add_argument("--beta", type=float, default=1.0, help="KL weight in training (1: the ELBO)")
    p.add_argument("--guide", default="diagonal")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iwae-particles", type=int, default=0, help="S of a final IWAE estimate of log p(x) (0: skip)")
    p.add_argument("--out", default=None, help="run directory (default: runs/conv-vae-<dataset>-seed<seed>)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=_run_cli)


def _run_cli(args) -> int:
    run(args)
    return 0
