"""``vaezoo train``: parse -> run -> fit.

:class:`TrainOptions` are the flags (and the keys of ``--config run.yaml``); the defaults of the
model and training fields are those of :class:`~zoo.models.VAEConfig`,
:class:`~zoo.models.conv_vae.ConvVAEConfig`, :class:`~zoo.training.FitConfig` and
:func:`~zoo.training.fit`, so each lives in one place. The command loads the data, builds the
model, and hands both to :func:`zoo.fit` with a :class:`~zoo.training.Run` that records the
data (``data.json``) and holds the run's lock from before training until the figures are drawn.
"""
import dataclasses
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Literal, Optional, Tuple

from zoo import data as zoo_data
from zoo import estimators
from zoo._utils.devices import THREADS_HELP, set_threads
from zoo.cli.options import PositiveFloat, PositiveInt, option
from zoo.cli.parsing import add_command
from zoo.cli.runs import figure_inputs, write_figures
from zoo.data.spec import DataSpec
from zoo.models import MODELS, DMMConfig, HVAEConfig, VAEConfig, list_models
from zoo.models.conv_vae import ConvVAEConfig
from zoo.models.sbn import SBNConfig
from zoo.training import FitConfig, Run, distributed, fit
from zoo.training.loggers import LOGGERS
from zoo.training.optim import OPTIMIZERS

DMM_WIDTHS = ("emission_dim", "transition_dim", "rnn_dim")  # dmm's --hidden
BINARIZE = ("auto", "none", "static", "threshold", "dynamic")
ONLY = {("conv-vae",): ("channels", "decoder_output", "beta"), ("hvae",): ("latent_dims", "depth"),
        ("vae", "hvae"): ("prior",), ("sbn",): ("layers",)}  # flags that apply to these models alone
# flags these models do not take, and what to use instead
NOT = {"conv-vae": {"hidden": "it takes --channels", "activation": "its activations are fixed"},
       "hvae": {"latent_dim": "it takes --latent-dims"},
       "sbn": {"latent_dim": "it takes --layers", "guide": "its guide is factorized Bernoulli units"}}


def _default(config, name: str):
    return next(f.default for f in dataclasses.fields(config) if f.name == name)


def _sizes(config, name: str) -> str:
    return " ".join(map(str, _default(config, name)))


@dataclass(frozen=True)
class TrainOptions:
    """The options of ``vaezoo train``."""

    model: Literal[tuple(list_models())] = option("vae", "the model (`vaezoo list`)")
    dataset: Literal[tuple(zoo_data.list_datasets())] = option("mnist5k", "the dataset (`vaezoo list`)")
    data_root: Optional[str] = option(None, f"the data root (default: ${zoo_data.DATA_ROOT_ENV})")
    download: bool = option(False, "let torchvision download MNIST into the cache")
    binarize: Literal[BINARIZE] = option(
        "auto", "static/threshold: once at load; dynamic: a fresh Bernoulli draw every epoch; auto: dynamic for the "
                "bernoulli likelihood on data that are not binary already, else none")
    train_size: Optional[PositiveInt] = option(None, "use the first N training examples (default: all)")
    test_size: Optional[PositiveInt] = option(None, "use the first N test examples (default: all)")
    likelihood: Optional[str] = option(None, "bernoulli, gaussian, gaussian-learned (default: the model's: "
                                             f"{_default(VAEConfig, 'likelihood')}; dmm, seq-vae gaussian)")
    likelihood_scale: Optional[PositiveFloat] = option(None, "the fixed scale of the gaussian likelihood")
    guide: Optional[str] = option(None, f"{_default(VAEConfig, 'guide')} (default), full-rank, planar:K, radial:K, "
                                        "iaf:K, sylvester:K, nsf:K; ae: delta")
    latent_dim: Optional[PositiveInt] = option(
        None, f"the dimension of z (default {_default(VAEConfig, 'latent_dim')}; hvae: --latent-dims)")
    hidden: Optional[Tuple[PositiveInt, ...]] = option(
        None, f"hidden layer sizes (default {_sizes(VAEConfig, 'hidden')}); hvae: one width per latent layer "
              f"(default {_sizes(HVAEConfig, 'hidden')}); dmm: {' '.join(DMM_WIDTHS)} (default "
              f"{' '.join(str(_default(DMMConfig, k)) for k in DMM_WIDTHS)})")
    activation: Optional[str] = option(None, f"the hidden activation (default: the model's: "
                                             f"{_default(VAEConfig, 'activation')}; dmm relu)")
    latent_dims: Optional[Tuple[PositiveInt, ...]] = option(
        None, f"hvae: the sizes of z1 ... zL, bottom first (default {_sizes(HVAEConfig, 'latent_dims')})")
    depth: Optional[PositiveInt] = option(
        None, f"hvae: deterministic layers per latent layer (default {_default(HVAEConfig, 'depth')})")
    layers: Optional[Tuple[PositiveInt, ...]] = option(
        None, f"sbn: binary units per stochastic layer, bottom first (default {_sizes(SBNConfig, 'layers')}); its "
              "--hidden are deterministic layers inside every conditional (default none: affine)")
    prior: Optional[str] = option(None, "vae, hvae: p(z) of the (top) latent layer: standard (default), mog:K, "
                                        "vamp:K (the VampPrior at K pseudo-inputs)")
    channels: Optional[Tuple[PositiveInt, ...]] = option(
        None, f"conv-vae: encoder conv channels (default {' '.join(map(str, _default(ConvVAEConfig, 'channels')))})")
    decoder_output: Optional[Literal["linear", "tanh"]] = option(
        None, f"conv-vae: tanh squashes the Gaussian mean into (-1, 1) (default "
              f"{_default(ConvVAEConfig, 'decoder_output')})")
    beta: Optional[PositiveFloat] = option(
        None, f"conv-vae: KL weight in training (default {_default(ConvVAEConfig, 'beta')})")
    estimator: Literal[tuple(estimators.list_estimators())] = option(_default(FitConfig, "estimator"),
                                                                     "the estimator")
    num_particles: PositiveInt = option(_default(FitConfig, "num_particles"), "K, the particles per datapoint")
    estimator_option: Dict[str, Any] = option(
        {}, "an estimator option NAME=VALUE, repeatable: alpha=0.5 (renyi), num_groups=8 (miwae), beta=0.5 "
            "(ciwae), baseline=learned (score), temperature=0.5 (concrete), phase=wake+sleep (rws)", repeat=True)
    optimizer: Literal[tuple(sorted(OPTIMIZERS))] = option(_default(FitConfig, "optimizer"), "the optimizer")
    epochs: PositiveInt = option(inspect.signature(fit).parameters["epochs"].default, "the number of epochs")
    batch_size: PositiveInt = option(_default(FitConfig, "batch_size"), "the minibatch size")
    lr: PositiveFloat = option(_default(FitConfig, "lr"), "the learning rate")
    seed: int = option(_default(FitConfig, "seed"), "seeds the initial weights, the batches and the noise")
    device: str = option("cpu", "cpu, cuda or cuda:N: where the model, the estimator and the data live")
    threads: Optional[PositiveInt] = option(None, THREADS_HELP)
    out: Optional[str] = option(None, "the run directory (default: runs/<model>-<dataset>-seed<seed>)")
    resume: bool = option(False, "continue the run in --out from its checkpoint")
    overwrite: bool = option(False, "replace the run in --out (its checkpoint, history, eval.json and figures)")
    logger: Literal[LOGGERS] = option(
        "none", "tensorboard: per-epoch scalars and image grids in OUT/tensorboard (pip install -e '.[tensorboard]')")
    no_progress: bool = option(False, "no progress bars")


def add_parser(sub) -> None:
    add_command(sub, "train", TrainOptions, run, help="train a model; flags override --config FILE",
                description="Train a model: checkpoints, history and figures in --out. Flags override --config FILE.")


def run(opts: TrainOptions) -> int:
    import pyro

    import zoo

    set_threads(opts.threads)
    once = "none" if opts.binarize in ("auto", "dynamic") else opts.binarize  # dynamic: drawn in training
    spec = DataSpec(opts.dataset, opts.data_root, opts.download, seed=opts.seed, train_size=opts.train_size,
                    test_size=opts.test_size, binarize=once)
    train, test = spec.splits()
    spec = dataclasses.replace(spec, binarize=_binarize(opts, train))
    options = _model_options(opts, tuple(train.shape[1:]))
    pyro.set_rng_seed(opts.seed)  # the initial weights follow --seed too
    vae = zoo.build(opts.model, **options)
    main = distributed.environment().main  # under torchrun only rank 0 writes
    with Run(opts.out or f"runs/{opts.model}-{opts.dataset}-seed{opts.seed}", data=spec).writing(main) as out:
        try:
            history = fit(vae, train, test=test, epochs=opts.epochs, out_dir=out, resume=opts.resume,
                          overwrite=opts.overwrite, progress=not opts.no_progress, device=opts.device,
                          logger=opts.logger, estimator=opts.estimator, num_particles=opts.num_particles,
                          estimator_options=opts.estimator_option, batch_size=opts.batch_size, lr=opts.lr,
                          optimizer=opts.optimizer, seed=opts.seed,
                          binarize="dynamic" if spec.binarize == "dynamic" else None)
        finally:
            distributed.teardown()
        if main:
            _report(out.path, vae.cpu(), history, figure_inputs(test, spec, 8), opts.seed)  # figures: on the CPU
    return 0


def _report(out: Path, vae, history, inputs, seed: int) -> None:
    last, size = history[-1], distributed.environment().size
    kl = f", test KL {last['test_kl']:.2f}" if "test_kl" in last else ""
    ranks = f" ({size} processes)" if size > 1 else ""
    print(f"epoch {last['epoch']}: train ELBO {last['train_elbo']:.2f}, test ELBO {last['test_elbo']:.2f}{kl} "
          f"nats; {last['train_time_s']:.1f} s per epoch{ranks}")
    write_figures(out, vae, inputs, history, seed=seed)


def _binarize(opts: TrainOptions, train) -> str:
    """``auto``: dynamic for the bernoulli likelihood on data that are not binary already, else none."""
    if opts.binarize != "auto":
        return opts.binarize
    binary = bool(((train == 0) | (train == 1)).all())
    return "dynamic" if _likelihood(opts) == "bernoulli" and not binary else "none"


def _likelihood(opts: TrainOptions) -> str:
    """The likelihood flag, else the model's default."""
    if opts.likelihood is not None:
        return opts.likelihood
    return inspect.signature(MODELS.get(opts.model)).parameters["likelihood"].default


def _model_options(opts: TrainOptions, data_shape) -> dict:
    """``zoo.build``'s keyword arguments from the flags given; a flag another model takes is refused."""
    given = {f.name for f in dataclasses.fields(opts) if f.default is None and getattr(opts, f.name) is not None}
    flag = lambda k: "--" + k.replace("_", "-")  # noqa: E731
    refused = [f"{flag(k)} does not apply to --model {opts.model} ({NOT[opts.model][k]})"
               for k in NOT.get(opts.model, {}) if k in given]
    refused += [f"{flag(k)} applies to --model {' or '.join(models)}, not {opts.model!r}"
                for models, keys in ONLY.items() for k in keys if k in given and opts.model not in models]
    if refused:
        raise ValueError("; ".join(refused))
    options = {"data_shape": data_shape}
    if opts.likelihood_scale is not None:
        options["likelihood_options"] = {"scale": opts.likelihood_scale}
    keys = {"likelihood", "activation", "guide", "channels", "decoder_output", "beta", "hidden", "latent_dims",
            "depth", "prior", "layers"} & given
    for k in sorted(keys):
        v = getattr(opts, k)
        options[k] = tuple(v) if isinstance(v, (list, tuple)) else v
    if opts.model == "dmm" and "hidden" in options:
        widths = options.pop("hidden")
        if len(widths) != len(DMM_WIDTHS):
            raise ValueError(f"--hidden for --model dmm takes three widths, {', '.join(DMM_WIDTHS)}; got "
                             f"{' '.join(map(str, widths))}")
        options.update(zip(DMM_WIDTHS, widths))
    if opts.model not in ("hvae", "sbn"):
        options["latent_dim"] = opts.latent_dim or _default(VAEConfig, "latent_dim")
    return options
