"""``vaezoo train``: flags generated from the config dataclasses, ``--config run.yaml``.

:class:`TrainArgs` is made from the fields of :class:`~zoo.models.VAEConfig`,
:class:`~zoo.training.FitConfig` and :func:`~zoo.training.fit` (their defaults, so each lives in
one place), plus the data and run options; jsonargparse turns it into the flags, the YAML
config (keys are the flags' names with underscores, as ``--print-config`` writes them) and
the help. Flags given after ``--config`` override the file.
"""
import dataclasses
import inspect
import re
import sys
from pathlib import Path
from typing import List, Literal, Optional, Tuple

import torch
from jsonargparse import ActionConfigFile
from jsonargparse.typing import PositiveFloat, PositiveInt

from zoo import data as zoo_data, estimators
from zoo._utils.devices import check_device
from zoo._utils.io import read_json, write_json
from zoo._utils.options import parse_assignment
from zoo.cli.parser import Parser, one_line
from zoo.cli.runs import DATA_FILE, RUN_FILES, figure_inputs, load_data, write_figures
from zoo.models import VAEConfig, list_models
from zoo.models.conv_vae import ConvVAEConfig
from zoo.training import FitConfig, distributed, fit
from zoo.training.checkpoint import refuse_changes
from zoo.training.checks import check_data
from zoo.training.optim import OPTIMIZERS

BINARIZE = ("auto", "none", "static", "threshold", "dynamic")
CONV_ONLY = ("channels", "decoder_output", "beta")


def _default(config, name: str):
    return next(f.default for f in dataclasses.fields(config) if f.name == name)


# (name, type, default, help): the flags, in the order --help lists them.
FIELDS = [
    ("model", Literal[tuple(list_models())], "vae", "the model (`vaezoo list`)"),
    ("dataset", Literal[tuple(zoo_data.list_datasets())], "mnist5k", "the dataset (`vaezoo list`)"),
    ("data_root", Optional[str], None, f"the data root (default: ${zoo_data.DATA_ROOT_ENV})"),
    ("download", bool, False, "let torchvision download MNIST into the cache"),
    ("binarize", Literal[BINARIZE], "auto",
     "static/threshold: once at load; dynamic: a fresh Bernoulli draw every epoch; auto: dynamic for the "
     "bernoulli likelihood on data that are not binary already, else none"),
    ("train_size", Optional[PositiveInt], None, "use the first N training examples (default: all)"),
    ("test_size", Optional[PositiveInt], None, "use the first N test examples (default: all)"),
    ("likelihood", str, _default(VAEConfig, "likelihood"), "bernoulli, gaussian, gaussian-learned"),
    ("likelihood_scale", Optional[PositiveFloat], None, "the fixed scale of the gaussian likelihood"),
    ("guide", Optional[str], None,
     f"{_default(VAEConfig, 'guide')} (default), full-rank, planar:K, radial:K, iaf:K, sylvester:K, nsf:K; ae: delta"),
    ("latent_dim", PositiveInt, _default(VAEConfig, "latent_dim"), "the dimension of z"),
    ("hidden", Tuple[PositiveInt, ...], _default(VAEConfig, "hidden"), "hidden layer sizes: --hidden 200 200"),
    ("activation", str, _default(VAEConfig, "activation"), "the hidden activation"),
    ("channels", Optional[Tuple[PositiveInt, ...]], None,
     f"conv-vae: encoder conv channels (default {' '.join(map(str, _default(ConvVAEConfig, 'channels')))})"),
    ("decoder_output", Optional[Literal["linear", "tanh"]], None,
     f"conv-vae: tanh squashes the Gaussian mean into (-1, 1) (default {_default(ConvVAEConfig, 'decoder_output')})"),
    ("beta", Optional[PositiveFloat], None, f"conv-vae: KL weight in training (default {_default(ConvVAEConfig, 'beta')})"),
    ("estimator", Literal[tuple(estimators.list_estimators())], _default(FitConfig, "estimator"), "the estimator"),
    ("num_particles", PositiveInt, _default(FitConfig, "num_particles"), "K, the particles per datapoint"),
    ("estimator_option", List[str], [], "an estimator option NAME=VALUE, repeatable: alpha=0.5 (renyi), "
                                        "num_groups=8 (miwae), beta=0.5 (ciwae), baseline=average (score)"),
    ("optimizer", Literal[tuple(sorted(OPTIMIZERS))], _default(FitConfig, "optimizer"), "the optimizer"),
    ("epochs", PositiveInt, inspect.signature(fit).parameters["epochs"].default, "the number of epochs"),
    ("batch_size", PositiveInt, _default(FitConfig, "batch_size"), "the minibatch size"),
    ("lr", PositiveFloat, _default(FitConfig, "lr"), "the learning rate"),
    ("seed", int, _default(FitConfig, "seed"), "seeds the initial weights, the batches and the noise"),
    ("device", str, "cpu", "cpu, cuda or cuda:N: where the model, the estimator and the data live"),
    ("out", Optional[str], None, "the run directory (default: runs/<model>-<dataset>-seed<seed>)"),
    ("resume", bool, False, "continue the run in --out from its checkpoint"),
    ("overwrite", bool, False, "replace the run in --out (its checkpoint, history, eval.json and figures)"),
    ("logger", Literal["none", "tensorboard"], "none",
     "tensorboard: per-epoch scalars and image grids in OUT/tensorboard (pip install -e '.[tensorboard]')"),
    ("no_progress", bool, False, "no progress bars"),
]


def _make_args():
    doc = "Train a model.\n\nArgs:\n" + "".join(f"    {name}: {text}\n" for name, _, _, text in FIELDS)
    cls = dataclasses.make_dataclass(
        "TrainArgs", [(n, t, dataclasses.field(default_factory=list) if isinstance(d, list) else dataclasses.field(default=d))
                      for n, t, d, _ in FIELDS], frozen=True)
    cls.__doc__ = doc
    cls.__module__ = __name__
    return cls


TrainArgs = _make_args()


def parser() -> Parser:
    p = Parser(prog="vaezoo train", description="Train a model; flags override --config FILE.")
    p.add_argument("--config", action=ActionConfigFile, help="a YAML file of flags (keys with underscores)")
    p.add_class_arguments(TrainArgs, nested_key=None, as_group=False)
    p.booleans = {n for n, t, _, _ in FIELDS if t is bool}
    p.sequences = {"hidden", "channels"}
    p.appends = {"estimator_option"}
    return p


def parse(argv: List[str]) -> "TrainArgs":
    p = parser()
    try:
        ns = p.parse_args(argv)
    except Exception as e:  # jsonargparse's errors: unknown keys, wrong types, bad values
        raise ValueError(_explain(one_line(e))) from None
    return TrainArgs(**{n: _plain(ns[n]) for n, _, _, _ in FIELDS})


def _plain(value):
    """jsonargparse's restricted numbers (``PositiveInt`` ...) as plain ints and floats, so that
    configs and checkpoints hold plain Python values only."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def _explain(message: str) -> str:
    """jsonargparse's message, with a choice error reworded as ``KEY: unknown value; choose from ...``."""
    choice = re.match(r'Parser key "(\w+)": Expected a typing.Literal\[(.*)\]\. Got value: (.*)$', message)
    if choice:
        key, options, value = choice.groups()
        return f"{key.replace('_', '-')}: unknown value {value!r}; choose from {options.replace(chr(39), '')}"
    if "is not accepted" in message or "unrecognized arguments" in message:
        keys = ", ".join(n for n, _, _, _ in FIELDS)
        return f"{message}; the flags and config keys are: {keys}"
    return message


def main(argv: List[str]) -> int:
    args = parse(argv)
    return run(args)


def run(args) -> int:
    import pyro
    import zoo

    spec = {"dataset": args.dataset, "data_root": args.data_root, "download": args.download,
            "binarize": args.binarize, "seed": args.seed, "train_size": args.train_size, "test_size": args.test_size}
    if args.resume and args.overwrite:
        raise ValueError("--resume and --overwrite exclude each other")
    check_device(args.device)
    options = [parse_assignment(text) for text in args.estimator_option]
    train, test = load_data({**spec, "binarize": "none" if args.binarize in ("auto", "dynamic") else args.binarize})
    spec["binarize"] = _binarize(args, train)
    pyro.set_rng_seed(args.seed)  # the initial weights follow --seed too
    vae = zoo.build(args.model, **_model_options(args, tuple(train.shape[1:])))
    fit_options = dict(estimator=args.estimator, num_particles=args.num_particles, estimator_options=dict(options),
                       batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer, seed=args.seed,
                       binarize="dynamic" if spec["binarize"] == "dynamic" else None)
    # refused here, before the run directory is touched
    cfg = FitConfig(**fit_options)
    for name, x in (("train", train), ("test", test)):
        check_data(vae, x, name, cfg.binarize)
    out = Path(args.out or f"runs/{args.model}-{args.dataset}-seed{args.seed}")
    if args.resume:
        _check_resume(out, spec)
    world = distributed.setup(torch.device(args.device))  # one process, or torchrun's group
    if world.main:  # only rank 0 writes
        out = _prepare_out(args, out)
        write_json(out / DATA_FILE, spec)
    try:
        history = fit(vae, train, test=test, epochs=args.epochs, out_dir=out, resume=args.resume,
                      overwrite=args.overwrite, progress=not args.no_progress, device=args.device,
                      logger=args.logger, **fit_options)
    finally:
        if world.size > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    if not world.main:
        return 0
    vae.cpu()  # figures are drawn on the CPU
    last = history[-1]
    kl = f", test KL {last['test_kl']:.2f}" if "test_kl" in last else ""
    ranks = f" ({world.size} processes)" if world.size > 1 else ""
    print(f"epoch {last['epoch']}: train ELBO {last['train_elbo']:.2f}, test ELBO {last['test_elbo']:.2f}{kl} "
          f"nats; {last['train_time_s']:.1f} s per epoch{ranks}")
    write_figures(out, vae, figure_inputs(test, spec, 8), history, seed=args.seed)
    return 0


def _binarize(args, train) -> str:
    """``auto``: dynamic for the bernoulli likelihood on data that are not binary already, else none."""
    if args.binarize != "auto":
        return args.binarize
    binary = bool(((train == 0) | (train == 1)).all())
    return "dynamic" if args.likelihood == "bernoulli" and not binary else "none"


def _model_options(args, data_shape) -> dict:
    """``zoo.build``'s keyword arguments: the conv-vae flags given, else the MLP sizes."""
    options = {"data_shape": data_shape, "latent_dim": args.latent_dim, "likelihood": args.likelihood}
    if args.guide is not None:
        options["guide"] = args.guide
    if args.likelihood_scale is not None:
        options["likelihood_options"] = {"scale": args.likelihood_scale}
    conv = {k: getattr(args, k) for k in CONV_ONLY if getattr(args, k) is not None}
    if args.model == "conv-vae":
        return {**options, **conv}
    if conv:
        flags = ", ".join("--" + k.replace("_", "-") for k in conv)
        raise ValueError(f"{flags} apply to --model conv-vae, not {args.model!r}")
    return {**options, "hidden": tuple(args.hidden), "activation": args.activation}


def _check_resume(out: Path, spec: dict) -> None:
    """Refuse a resume whose data settings differ from the run's ``data.json``, naming each field.

    The model, fit and world-size settings are checked against the checkpoint by
    ``zoo.training.checkpoint.restore``, before ``fit`` writes anything."""
    if (out / DATA_FILE).exists():
        saved = read_json(out / DATA_FILE, "restore it, or start again with --overwrite")
        refuse_changes(f"cannot resume {out}", "data", saved, spec)


def _prepare_out(args, out: Path) -> Path:
    if out.exists() and any(out.iterdir()) and not (args.resume or args.overwrite):
        raise FileExistsError(f"--out {out} already holds a run; pass --resume to continue it or --overwrite to replace it")
    if args.overwrite:  # also what eval and plot derived from the old run
        for path in [*(out / name for name in RUN_FILES), out / "eval.json", *out.glob("*.png")]:
            path.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    return out


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
