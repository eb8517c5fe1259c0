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
import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from zoo._utils.io import write_json

FACTORS = ("amplitude", "frequency")  # the phase is circular: no linear R^2


@torch.no_grad()
def measure(vae, test: torch.Tensor, factors: dict, num_samples: int, seed: int = 0) -> dict:
    """Held-out numbers of the plain model (put in eval mode for the duration)."""
    from zoo.evaluation.likelihood import log_likelihood
    from zoo.evaluation.latent import posterior_means

    was_training = vae.training
    vae.eval()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            mse = (vae.reconstruct(test)[0] - test).pow(2).mean().item()
            codes = posterior_means(vae.encode, test).double().numpy()
        ll = log_likelihood(vae.model, vae.guide, test, num_samples=num_samples, batch_size=50, seed=seed).summary()
    finally:
        vae.train(was_training)
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


def run(args) -> dict:
    """Train, measure, draw; writes ``results.json`` and the figures into ``args.out``."""
    import pyro
    import zoo
    from zoo._utils.checks import positive_int
    from zoo.plots.seq import write_figures
    from zoo.models.seq_vae import KLWarmup

    torch.set_num_threads(positive_int("threads", args.threads))
    ds = zoo.data.sines(num_train=args.num_train, num_test=args.num_test, length=args.length, noise=args.noise,
                        seed=args.data_seed)
    out = _run_dir(args)
    options = {} if args.likelihood_scale is None else {"likelihood_options": {"scale": args.likelihood_scale}}
    pyro.set_rng_seed(args.seed)  # the initial weights follow --seed
    vae = zoo.build("seq-vae", data_shape=(args.length,), latent_dim=args.latent_dim, hidden=tuple(args.hidden),
                    samples_per_step=args.samples_per_step, teacher_forcing=args.teacher_forcing,
                    likelihood=args.likelihood, guide=args.guide, **options)
    warmup = KLWarmup(vae, args.kl_warmup) if args.kl_warmup else None
    history = zoo.fit(vae, ds.train, test=ds.test, epochs=args.epochs, out_dir=out, resume=args.resume,
                      progress=not args.no_progress, before_epoch=warmup, batch_size=args.batch_size, lr=args.lr,
                      seed=args.seed)
    result = {"config": {k: v for k, v in vars(args).items() if k not in ("run", "command")}, "model": vae.config,
              "epochs": len(history), "train_time_per_epoch_s": statistics.mean(r["train_time_s"] for r in history),
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


def _run_dir(args) -> Path:
    out = Path(args.out)
    if args.resume and args.overwrite:
        raise ValueError("--resume and --overwrite exclude each other")
    if (out / "checkpoint.pt").exists() and not (args.resume or args.overwrite):
        raise FileExistsError(f"--out {out} already holds a run; pass --resume to continue it "
                              "or --overwrite to replace it")
    if args.overwrite:
        (out / "checkpoint.pt").unlink(missing_ok=True)
    return out


def summary(result: dict) -> str:
    """One line of the numbers in ``results.json``."""
    r2 = ", ".join(f"{k} {v:.2f} / {result['latent_r2_quadratic'][k]:.2f}" for k, v in result["latent_r2"].items())
    return (f"sines, {result['epochs']} epochs: held-out MSE {result['mse']:.4f} (signal variance "
            f"{result['signal_variance']:.3f}), test ELBO {result['test_elbo']:.2f} nats, log p(x) ~ "
            f"{result['log_likelihood']:.2f} +- {result['log_likelihood_stderr']:.2f} "
            f"(IS, S = {result['is_samples']}), "
            f"R^2 of z (linear / quadratic): {r2}; {result['train_time_per_epoch_s']:.2f} s per epoch")


def add_parser(sub) -> None:
    p = sub.add_parser("seq", help="train the sequence VAE on sines; MSE, ELBO, log p(x), figures",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--num-train", type=int, default=1000)
    p.add_argument("--num-test", type=int, default=200)
    p.add_argument("--length", type=int, default=50, help="samples per sequence (seed: 50)")
    p.add_argument("--noise", type=float, default=0.0, help="std of Gaussian noise added to the sines")
    p.add_argument("--data-seed", type=int, default=0)
    # 4, not the seed's 2: amplitude, frequency and a circular phase need more than two dimensions.
    p.add_argument("--latent-dim", type=int, default=4)
    p.add_argument("--hidden", type=int, nargs=2, default=[10, 20], help="GRU sizes: encoder, decoder")
    p.add_argument("--samples-per-step", type=int, default=5)
    p.add_argument("--teacher-forcing", type=float, default=0.0, help="per-step probability in training")
    p.add_argument("--kl-warmup", type=int, default=0, help="epochs of linear KL warm-up (0: none)")
    p.add_argument("--likelihood", default="gaussian", choices=["gaussian", "gaussian-learned"])
    p.add_argument("--likelihood-scale", type=float, default=None, help="sigma of the gaussian (default 0.1)")
    p.add_argument("--guide", default="diagonal")
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--is-samples", type=int, default=1000, help="S of the importance-sampled log p(x)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads; the GRUs' small matrix products gain nothing from more, and on a "
                        "busy machine extra threads slow them down many times")
    p.add_argument("--out", default="runs/seq-vae")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=_run_cli)


def _run_cli(args) -> int:
    run(args)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.studies.seq")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["seq"] + list(sys.argv[1:] if argv is None else argv))
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
