r"""The sequence VAE on generated sines (seed 000): ``vaezoo seq`` or ``python -m benchmarks.studies.seq``.

Trains ``zoo.build("seq-vae", ...)`` with ``zoo.fit`` (optionally with teacher forcing and a
linear KL warm-up [2]) and reports, on the held-out sines, always for the plain model in eval
mode (no teacher forcing, no annealing):

    mse               mean squared error of reconstructions, the decoder mean at z ~ q(z|x),
                      beside the signal variance (what predicting 0 would score)
    test_elbo         E_q[log p(x, z) - log q(z|x)] from the S importance samples
    log_likelihood    the importance-sampled log p(x) with S samples [1] (``zoo.evaluation.likelihood``)
    latent_r2         R^2 of regressions of amplitude and frequency on E_q[z|x] (linear, and
                      with the pairwise products z_i z_j: ``latent_r2_quadratic``)
    time per epoch    mean training seconds per epoch (evaluation excluded)

Figures in the run directory: ``reconstructions.png``, ``samples.png``, ``latent_traversal.png``
(generations along lines in latent space, with their fitted amplitude/frequency/phase),
``latent_scatter.png`` (codes coloured by frequency), ``training_curves.png``; numbers in
``results.json``.

References:
    [1] Burda, Grosse, Salakhutdinov. Importance Weighted Autoencoders. arXiv:1509.00519
    [2] Bowman et al. Generating Sentences from a Continuous Space. arXiv:1511.06349
"""
import dataclasses
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Annotated, Literal, Optional, Tuple

import numpy as np
import torch

from zoo._utils.contexts import evaluating, seeded
from zoo._utils.io import write_json
from zoo.cli.options import Check, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, option
from zoo.cli.parsing import add_command, plain
from zoo.training import Run

Probability = Annotated[float, Check(lambda v: 0 <= v <= 1, "in [0, 1]")]

FACTORS = ("amplitude", "frequency")  # the phase is circular: no linear R^2


@torch.no_grad()
def measure(vae, test: torch.Tensor, factors: dict, num_samples: int, seed: int = 0) -> dict:
    """Held-out numbers of the plain model (put in eval mode for the duration)."""
    from zoo.evaluation.latent import posterior_means
    from zoo.evaluation.likelihood import log_likelihood

    with evaluating(vae):
        with seeded(seed):
            mse = (vae.reconstruct(test)[0] - test).pow(2).mean().item()
            codes = posterior_means(vae.encode, test).double().numpy()
        ll = log_likelihood(vae.model, vae.guide, test, num_samples=num_samples, batch_size=50, seed=seed).summary()
    variance = test.var().item()
    return {"mse": mse, "signal_variance": variance, "mse_over_variance": mse / variance,
            "test_elbo": ll["elbo"], "log_likelihood": ll["log_likelihood"],
            "log_likelihood_stderr": ll["log_likelihood_stderr"], "is_samples": num_samples,
            "latent_r2": {name: r_squared(codes, factors[name].double().numpy()) for name in FACTORS},
            "latent_r2_quadratic": {name: r_squared(codes, factors[name].double().numpy(), quadratic=True)
                                    for name in FACTORS}}


def r_squared(codes: np.ndarray, y: np.ndarray, quadratic: bool = False) -> float:
    """R^2 of the least-squares regression of ``y`` on the codes (and their pairwise products)."""
    d = codes.shape[1]
    features = [np.ones(len(codes)), *codes.T]
    if quadratic:
        features += [codes[:, i] * codes[:, j] for i in range(d) for j in range(i, d)]
    design = np.stack(features, 1)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(1 - ((design @ coef - y) ** 2).mean() / y.var())


def run(args: "SeqOptions") -> dict:
    """Train, measure, draw; writes ``results.json`` and the figures into ``args.out``, holding
    the run's lock throughout."""
    import pyro

    import zoo
    from zoo.models.seq_vae import KLWarmup
    from zoo.plots.seq import write_figures

    torch.set_num_threads(args.threads)
    ds = zoo.data.sines(num_train=args.num_train, num_test=args.num_test, length=args.length, noise=args.noise,
                        seed=args.data_seed)
    options = {} if args.likelihood_scale is None else {"likelihood_options": {"scale": args.likelihood_scale}}
    pyro.set_rng_seed(args.seed)  # the initial weights follow --seed
    vae = zoo.build("seq-vae", data_shape=(args.length,), latent_dim=args.latent_dim, hidden=tuple(args.hidden),
                    samples_per_step=args.samples_per_step, teacher_forcing=args.teacher_forcing,
                    likelihood=args.likelihood, guide=args.guide, **options)
    warmup = KLWarmup(vae, args.kl_warmup) if args.kl_warmup else None
    with Run(args.out).writing() as run_dir:
        out = run_dir.path
        history = zoo.fit(vae, ds.train, test=ds.test, epochs=args.epochs, out_dir=run_dir, resume=args.resume,
                          overwrite=args.overwrite, progress=not args.no_progress, before_epoch=warmup,
                          batch_size=args.batch_size, lr=args.lr, seed=args.seed)
        result = {"config": plain(dataclasses.asdict(args)), "model": vae.config, "epochs": len(history),
                  "train_time_per_epoch_s": statistics.mean(r["train_time_s"] for r in history),
                  "eval_time_per_epoch_s": statistics.mean(r["eval_time_s"] for r in history),
                  "torch_threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
                  **measure(vae, ds.test, ds.factors["test"], args.is_samples, args.seed)}
        inputs = ds.test[torch.linspace(0, ds.test.shape[0] - 1, 8).long()]
        figures = write_figures(out, vae, inputs, history, args.seed, factors=ds.factors["test"], test=ds.test)
        result["figures"] = [str(p) for p in figures]
        write_json(out / "results.json", result)
    print(summary(result))
    for path in result["figures"] + [str(out / "results.json")]:
        print(f"wrote {path}")
    return result


def summary(result: dict) -> str:
    """One line of the numbers in ``results.json``."""
    r2 = ", ".join(f"{k} {v:.2f} / {result['latent_r2_quadratic'][k]:.2f}" for k, v in result["latent_r2"].items())
    return (f"sines, {result['epochs']} epochs: held-out MSE {result['mse']:.4f} (signal variance "
            f"{result['signal_variance']:.3f}), test ELBO {result['test_elbo']:.2f} nats, log p(x) ~ "
            f"{result['log_likelihood']:.2f} +- {result['log_likelihood_stderr']:.2f} "
            f"(IS, S = {result['is_samples']}), "
            f"R^2 of z (linear / quadratic): {r2}; {result['train_time_per_epoch_s']:.2f} s per epoch")


@dataclass(frozen=True)
class SeqOptions:
    """The options of ``vaezoo seq``."""

    num_train: PositiveInt = option(1000, "training sequences")
    num_test: PositiveInt = option(200, "held-out sequences")
    length: PositiveInt = option(50, "samples per sequence (seed: 50)")
    noise: NonNegativeFloat = option(0.0, "std of Gaussian noise added to the sines")
    data_seed: int = option(0, "seeds the generated sines")
    # 4, not the seed's 2: amplitude, frequency and a circular phase need more than two dimensions.
    latent_dim: PositiveInt = option(4, "the dimension of z (4: amplitude, frequency and a circular phase)")
    hidden: Tuple[PositiveInt, PositiveInt] = option((10, 20), "GRU sizes: encoder, decoder")
    samples_per_step: PositiveInt = option(5, "signal samples per GRU step")
    teacher_forcing: Probability = option(0.0, "per-step probability in training")
    kl_warmup: NonNegativeInt = option(0, "epochs of linear KL warm-up (0: none)")
    likelihood: Literal["gaussian", "gaussian-learned"] = option("gaussian", "the likelihood")
    likelihood_scale: Optional[PositiveFloat] = option(None, "sigma of the gaussian (default 0.1)")
    guide: str = option("diagonal", "the guide")
    epochs: PositiveInt = option(300, "the number of epochs")
    batch_size: PositiveInt = option(50, "the minibatch size")
    lr: PositiveFloat = option(1e-2, "the learning rate")
    seed: int = option(0, "seeds the weights and the noise")
    is_samples: PositiveInt = option(1000, "S of the importance-sampled log p(x)")
    threads: PositiveInt = option(1, "torch threads; the GRUs' small matrix products gain nothing from more, and on "
                                     "a busy machine extra threads slow them down many times")
    out: str = option("runs/seq-vae", "the run directory")
    resume: bool = option(False, "continue the run in --out")
    overwrite: bool = option(False, "replace the run in --out")
    no_progress: bool = option(False, "no progress bars")


def add_parser(sub) -> None:
    add_command(sub, "seq", SeqOptions, _run_cli, help="train the sequence VAE on sines; MSE, ELBO, log p(x), figures")


def _run_cli(opts: SeqOptions) -> int:
    run(opts)
    return 0


def main(argv=None) -> int:
    from zoo.cli import main as vaezoo

    return vaezoo(["seq", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
