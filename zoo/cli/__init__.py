"""The ``vaezoo`` command line: list, train, sample, bench."""
import argparse
from importlib.metadata import entry_points
import json
import sys
from pathlib import Path
from typing import List, Optional
from zoo._utils.io import write_json

# Packages above zoo (benchmarks) add subcommands through this entry-point group: each entry is
# a function add_parser(subparsers), so that zoo never imports them.
COMMANDS = "vaezoo.commands"
RUN_FILES = ("checkpoint.pt", "history.json", "config.json", "data.json", "samples.png",
             "reconstructions.png", "training_curves.png")


def _train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a model with SVI", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default="vae")
    p.add_argument("--dataset", default="mnist5k", help="see `vaezoo list`")
    p.add_argument("--data-root", default=None, help="data root (default: $VAEZOO_DATA)")
    p.add_argument("--download", action="store_true", help="allow torchvision to download MNIST into the cache")
    p.add_argument("--binarize", default="none", choices=["none", "static", "threshold", "dynamic"],
                   help="static/threshold: once at load; dynamic: a fresh Bernoulli draw every epoch")
    p.add_argument("--train-size", type=int, default=None, help="use the first N training images")
    p.add_argument("--test-size", type=int, default=None, help="use the first N test images")
    p.add_argument("--likelihood", default="bernoulli", help="bernoulli, gaussian, gaussian-learned")
    p.add_argument("--likelihood-scale", type=float, default=None, help="the fixed scale of the gaussian likelihood")
    p.add_argument("--guide", default=None,
                   help="diagonal (default), full-rank, planar:K, radial:K, iaf:K, sylvester:K; none for --model ae")
    p.add_argument("--latent-dim", type=int, default=50)
    p.add_argument("--hidden", type=int, nargs="+", default=[200, 200])
    p.add_argument("--activation", default="tanh")
    p.add_argument("--channels", type=int, nargs="+", default=None, help="conv-vae: encoder conv channels (32 64 128)")
    p.add_argument("--decoder-output", default=None, choices=["linear", "tanh"],
                   help="conv-vae: tanh squashes the Gaussian mean into (-1, 1), for *-centered data (linear)")
    p.add_argument("--beta", type=float, default=None, help="conv-vae: KL weight in training (1: the ELBO)")
    p.add_argument("--estimator", default="elbo")
    p.add_argument("--num-particles", type=int, default=1, help="K, the particles per datapoint")
    p.add_argument("--estimator-option", action="append", default=[], metavar="NAME=VALUE", type=_option,
                   help="an estimator option, repeatable: alpha=0.5 (renyi), num_groups=8 (miwae), "
                        "beta=0.5 (ciwae), baseline=average (score)")
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="run directory (default: runs/<model>-<dataset>-seed<seed>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run in --out (its checkpoint, history, eval.json and figures)")
    p.add_argument("--no-progress", action="store_true")


def _option(text: str):
    """``NAME=VALUE`` -> (name, value), the value an int, a float or else a string."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    for kind in (int, float):
        try:
            return name, kind(value)
        except ValueError:
            pass
    return name, value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vaezoo", description="Variational autoencoders as Pyro model/guide pairs.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list models, guides, likelihoods, estimators and datasets")
    _train_parser(sub)
    p = sub.add_parser("sample", help="write samples.png and reconstructions.png for a run")
    p.add_argument("run_dir")
    p.add_argument("--num-samples", type=int, default=100)
    p.add_argument("--num-reconstructions", type=int, default=9)
    p.add_argument("--num-inputs", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default=None)
    from zoo.cli import evaluation

    evaluation.add_parser(sub)
    for command in entry_points(group=COMMANDS):  # e.g. bench, gmm, experiment, seq from benchmarks
        command.load()(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            return cmd_list()
        if args.command == "train":
            return cmd_train(args)
        if args.command == "sample":
            return cmd_sample(args)
        if hasattr(args, "run"):  # subcommands that other modules add (set_defaults(run=...))
            return args.run(args)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as e:
        print(f"vaezoo {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: finished epochs are saved; continue with --resume", file=sys.stderr)
        return 130
    return 0


def cmd_list() -> int:
    import zoo
    from zoo.likelihoods import LIKELIHOODS

    for kind, names in [("models", zoo.list_models()), ("guides", zoo.list_guides()),
                        ("likelihoods", LIKELIHOODS.names()), ("estimators", zoo.list_estimators()),
                        ("datasets", zoo.list_datasets())]:
        print(f"{kind + ':':13s}{', '.join(names)}")
    return 0


def _prepare_out(args) -> Path:
    out = Path(args.out or f"runs/{args.model}-{args.dataset}-seed{args.seed}")
    if args.resume and args.overwrite:
        raise ValueError("--resume and --overwrite exclude each other")
    if out.exists() and any(out.iterdir()) and not (args.resume or args.overwrite):
        raise FileExistsError(f"--out {out} already holds a run; pass --resume to continue it or --overwrite to replace it")
    if args.overwrite:  # also what eval and plot derived from the old run
        for path in [*(out / name for name in RUN_FILES), out / "eval.json", *out.glob("*.png")]:
            path.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _load_data(spec: dict):
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


def cmd_train(args) -> int:
    import pyro
    import zoo

    out = _prepare_out(args)
    spec = {"dataset": args.dataset, "data_root": args.data_root, "download": args.download,
            "binarize": args.binarize, "seed": args.seed, "train_size": args.train_size, "test_size": args.test_size}
    train, test = _load_data(spec)
    pyro.set_rng_seed(args.seed)  # the initial weights follow --seed too
    options = {"guide": args.guide} if args.guide is not None else {}
    if args.likelihood_scale is not None:
        options["likelihood_options"] = {"scale": args.likelihood_scale}
    vae = zoo.build(args.model, data_shape=tuple(train.shape[1:]), latent_dim=args.latent_dim,
                    likelihood=args.likelihood, **_architecture(args), **options)
    write_json(out / "data.json", spec)
    history = zoo.fit(vae, train, test=test, epochs=args.epochs, out_dir=out, resume=args.resume,
                      progress=not args.no_progress, estimator=args.estimator, num_particles=args.num_particles,
                      estimator_options=dict(args.estimator_option),
                      batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer, seed=args.seed,
                      binarize="dynamic" if args.binarize == "dynamic" else None)
    last = history[-1]
    kl = f", test KL {last['test_kl']:.2f}" if "test_kl" in last else ""
    print(f"epoch {last['epoch']}: train ELBO {last['train_elbo']:.2f}, test ELBO {last['test_elbo']:.2f}{kl} "
          f"nats; {last['train_time_s']:.1f} s per epoch")
    _write_figures(out, vae, _figure_inputs(test, spec, 8), history, seed=args.seed)
    return 0


def _architecture(args) -> dict:
    """Network options of ``--model``: the conv-vae flags given, else the MLP sizes."""
    conv = {k: v for k, v in (("channels", args.channels), ("decoder_output", args.decoder_output),
                              ("beta", args.beta)) if v is not None}
    if args.model == "conv-vae":
        return {**conv, "channels": tuple(args.channels)} if args.channels else conv
    if conv:
        flags = ", ".join("--" + k.replace("_", "-") for k in conv)
        raise ValueError(f"{flags} apply to --model conv-vae, not {args.model!r}")
    return {"hidden": tuple(args.hidden), "activation": args.activation}


def _figure_inputs(test, spec: dict, n: int = 16):
    """``n`` test images spread evenly through the split (some splits are sorted by class);
    with dynamic binarization, one seeded Bernoulli draw of them."""
    import torch
    import zoo

    x = test[torch.linspace(0, test.shape[0] - 1, min(n, test.shape[0])).long()]
    if spec["binarize"] == "dynamic":
        x = zoo.data.binarize(x, "static", torch.Generator().manual_seed(spec["seed"]))
    return x


def _write_figures(out: Path, vae, inputs, history, seed: int, num_samples=100, num_reconstructions=9):
    import torch
    from zoo import plots

    if vae.config.get("model") == "seq-vae":  # curves, not image grids (zoo.plots.seq)
        from zoo.plots.seq import write_figures
        for path in write_figures(out, vae, inputs, history, seed):
            print(f"wrote {path}")
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        title = "Decoded latent noise z ~ N(0, I) (an autoencoder has no prior)" if vae.config.get("model") == "ae" \
            else "Samples from the prior"
        paths = [plots.plot_samples(vae.sample(num_samples), out / "samples.png", title=title),
                 plots.plot_reconstructions(inputs, vae.reconstruct(inputs, num_reconstructions),
                                            out / "reconstructions.png")]
    if history:
        paths.append(plots.plot_training_curves(history, out / "training_curves.png",
                                                title=f"{vae.config.get('model')} training curves"))
    for path in paths:
        print(f"wrote {path}")


def cmd_sample(args) -> int:
    import zoo

    run = Path(args.run_dir)
    vae = zoo.load(run)
    spec = json.loads((run / "data.json").read_text()) if (run / "data.json").exists() else None
    if spec is None:
        raise FileNotFoundError(f"{run / 'data.json'} is missing: cannot tell which data the run used")
    if args.data_root:
        spec["data_root"] = args.data_root
    _, test = _load_data(spec)
    history = json.loads((run / "history.json").read_text()) if (run / "history.json").exists() else []
    _write_figures(run, vae, _figure_inputs(test, spec, args.num_inputs), history, args.seed,
                   args.num_samples, args.num_reconstructions)
    return 0


