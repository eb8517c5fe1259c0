r"""The 2-D posterior-collapse study of seed 003: ``vaezoo experiment collapse-2d``.

Data (exactly seed 003's ``generate_2d_data``): x = m + (eps * s) R, eps ~ N(0, I_2), with
m = (2, 3), s = (3, 1), seed 42, a 70/30 train/test split, and R the identity
("univariate": axis-aligned, diagonal covariance diag(9, 1)) or a 45-degree rotation
("multivariate": covariance [[5, 4], [4, 5]]).

Model (seed 003's VAE2d): z in R^2, p(z) = N(0, I), an MLP decoder with a Gaussian of learned
diagonal variance, p(x|z) = N(mu(z), diag sigma(z)^2) (``gaussian-learned``), and a diagonal
Gaussian guide.

What to expect. In the axis-aligned case the decoder can reproduce the data *without* z
(mu and sigma constant): the ELBO then equals log p(x) with KL = 0, and training finds this
collapsed solution: q(z|x) = p(z) for every x, so mu_z ~ 0 and std_z ~ 1. In the rotated case
a z-free decoder is at best the diagonal Gaussian diag(5, 5), which falls short of log p(x)
by KL(N(0, Sigma) || N(0, diag Sigma)) = log(25 / 9) / 2 = 0.51 nats per point; the decoder
must use z. For a linear-Gaussian decoder x = m + W z + N(0, Psi) that reproduces Sigma,
the mean KL of the exact posterior is I(x; z) = log(det Sigma / det Psi) / 2, and the
largest diagonal Psi with Sigma - Psi >= 0 is I, so KL >= log(9) / 2 = 1.10 nats.

Dynamics: on the rotated data the ELBO first plateaus near the z-free optimum (log p(x) - 0.51)
while the KL stays below 0.3 nats; the decoder starts to use z after 4-6 epochs with the
defaults (8 epochs, batch 128, Adam 3e-3), and by epoch 8 the KL is 0.94-1.06 nats for seeds
0-5 (axis-aligned: 0.01-0.02). After four epochs (KL 0.12-0.26) the 0.5-nat threshold would
not yet tell the cases apart.

Hence the thresholds reported as ``collapsed``: test KL below ``COLLAPSED_KL`` = 0.1 nats
(under a tenth of the 1.10 nats a faithful fit of the rotated data needs), and
``NOT_COLLAPSED_KL`` = 0.5 nats (under half of it, to leave room for a short run).
"""
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Literal, Tuple

import numpy as np
import torch

from zoo._utils.contexts import seeded
from zoo._utils.io import atomic_write, write_json
from zoo.cli.options import PositiveFloat, PositiveInt, option
from zoo.cli.parsing import add_command

MODES = ("univariate", "multivariate")
MEAN, SIGMA, SEED = (2.0, 3.0), (3.0, 1.0), 42
AXES = ((-10, 14), (-6, 12))  # fixed, so that the cases' figures compare at a glance
COLLAPSED_KL = 0.1  # nats; see the module docstring
NOT_COLLAPSED_KL = 0.5  # nats


def generate_2d_data(count: int, mode: str = "univariate") -> Tuple[np.ndarray, np.ndarray]:
    """Seed 003's data: ``count`` points, the first 70% train, the rest test, float32 (., 2).

    ``np.random.RandomState(42)`` draws the same numbers as the seed's ``np.random.seed(42)``
    followed by ``np.random.randn``, without touching numpy's global state.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 2:
        raise ValueError(f"count must be an integer of at least 2, got {count!r}")
    c = math.sqrt(2) / 2
    rotate = [[1.0, 0.0], [0.0, 1.0]] if mode == "univariate" else [[c, c], [-c, c]]
    eps = np.random.RandomState(SEED).randn(count, 2)
    data = (np.array([MEAN]) + (eps * np.array([SIGMA])).dot(np.array(rotate))).astype("float32")
    split = int(0.7 * count)
    return data[:split], data[split:]


def data_covariance(mode: str) -> np.ndarray:
    """The covariance of the generating Gaussian: R^T diag(s^2) R."""
    c = math.sqrt(2) / 2
    rotate = np.eye(2) if mode == "univariate" else np.array([[c, c], [-c, c]])
    return rotate.T @ np.diag(np.square(SIGMA)) @ rotate


def exact_log_likelihood(x: np.ndarray, mode: str) -> float:
    """Mean log N(x; m, Sigma) of the data under their true distribution (nats per point)."""
    cov = data_covariance(mode)
    diff = x.astype(np.float64) - np.array(MEAN)
    maha = np.einsum("ni,ij,nj->n", diff, np.linalg.inv(cov), diff)
    return float(np.mean(-0.5 * maha - 0.5 * np.log(np.linalg.det(cov)) - math.log(2 * math.pi)))


@torch.no_grad()
def latent_stats(vae, x: torch.Tensor) -> Dict[str, list]:
    """Seed 003's ``get_latent_stats``: mean and spread over ``x`` of q(z|x)'s means and stds."""
    from zoo._utils.contexts import evaluating

    with evaluating(vae):
        q = vae.encode(x)
        mu_z, std_z = q.mean, q.variance.sqrt()
    return {"mu_z_mean": mu_z.mean(0).tolist(), "mu_z_std": mu_z.std(0).tolist(),
            "std_z_mean": std_z.mean(0).tolist(), "std_z_std": std_z.std(0).tolist()}


def build_vae2d(hidden=(32, 32)):
    """Seed 003's VAE2d: 2-D z, ReLU MLPs, Gaussian decoder with learned diagonal variance."""
    import zoo

    return zoo.build("vae", data_shape=(2,), latent_dim=2, hidden=tuple(hidden), activation="relu",
                     likelihood="gaussian-learned", guide="diagonal")


def run_case(mode: str, *, count=10000, hidden=(32, 32), epochs=8, batch_size=128, lr=3e-3, seed=0,
             num_samples=3000, out=None, progress=False) -> Tuple[dict, dict]:
    """Train VAE2d on one case.

    Returns:
        Its numbers (JSON-ready; with the paths of its figures when ``out`` is given, which go
        to ``out/<mode>/``), and its point sets: ``train``, ``test``, ``noise`` (x ~ p(x|z)) and
        ``nonoise`` (decoder means), z ~ p(z), ``num_samples`` each.
    """
    import zoo

    train, test = (torch.from_numpy(a) for a in generate_2d_data(count, mode))
    torch.manual_seed(seed)
    vae = build_vae2d(hidden)
    history = zoo.fit(vae, train, test=test, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                      progress=progress)
    last = history[-1]
    kl = last["test_kl"]
    result = {
        "mode": mode,
        "test_kl": kl,
        "test_elbo": last["test_elbo"],
        "exact_test_log_likelihood": exact_log_likelihood(test.numpy(), mode),
        **latent_stats(vae, test),
        "collapsed": kl < COLLAPSED_KL,
        "not_collapsed": kl > NOT_COLLAPSED_KL,
        "history": history,
    }
    with seeded(seed):
        points = {"train": train, "test": test, "noise": vae.sample(num_samples, mean=False),
                  "nonoise": vae.sample(num_samples, mean=True)}
    if out is not None:
        result["figures"] = [str(p) for p in _case_figures(Path(out) / mode, mode, points, history)]
    return result, points


def _scatter(ax, points: dict, title: str) -> None:
    for label, x in points.items():
        x = torch.as_tensor(x)
        ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.4, label=label)
    ax.set(xlim=AXES[0], ylim=AXES[1], xlabel="x1", ylabel="x2", title=title, aspect="equal")
    ax.legend(markerscale=5, loc="upper left")


def _save(fig, path) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png"))
    plt.close(fig)
    return path


def plot_2d(points: dict, path, title: str) -> Path:
    """Scatter plot of 2-D point sets ``{label: (N, 2)}`` on fixed axes (seed 003's figures)."""
    import matplotlib.pyplot as plt

    from zoo import plots  # noqa: F401 (selects the Agg backend)

    fig, ax = plt.subplots(figsize=(5, 5))
    _scatter(ax, points, title)
    return _save(fig, path)


def plot_overview(panels: dict, path) -> Path:
    """One row per case: data, samples with and without decoder noise."""
    import matplotlib.pyplot as plt

    from zoo import plots  # noqa: F401 (selects the Agg backend)

    fig, axes = plt.subplots(len(panels), 3, figsize=(15, 5 * len(panels)), squeeze=False)
    for row, (mode, (points, kl)) in zip(axes, panels.items()):
        _scatter(row[0], {"train": points["train"], "test": points["test"]}, f"{mode} data")
        _scatter(row[1], {"x ~ p(x|z)": points["noise"]}, f"{mode}: samples with decoder noise")
        _scatter(row[2], {"mu(z)": points["nonoise"]}, f"{mode}: without decoder noise (test KL {kl:.3f})")
    return _save(fig, path)


def _case_figures(out: Path, mode: str, points: dict, history):
    from zoo import plots

    return [
        plot_2d({"train": points["train"], "test": points["test"]}, out / "data.png", title=f"{mode} data"),
        plot_2d({"x ~ p(x|z)": points["noise"]}, out / "samples_noise.png",
                title=f"{mode}: samples with decoder noise"),
        plot_2d({"mu(z)": points["nonoise"]}, out / "samples_nonoise.png",
                title=f"{mode}: samples without decoder noise"),
        plots.plot_training_curves(history, out / "training_curves.png", title=f"VAE2d, {mode} data"),
    ]


def run(args) -> dict:
    """Both cases with the same settings; results.json (and figures) in ``args.out``."""
    out = Path(args.out)
    settings = dict(count=args.count, hidden=tuple(args.hidden), epochs=args.epochs, batch_size=args.batch_size,
                    lr=args.lr, seed=args.seed)
    start = time.perf_counter()
    cases, panels = {}, {}
    for mode in args.modes:
        cases[mode], points = run_case(mode, **settings, out=out, progress=not args.no_progress)
        panels[mode] = (points, cases[mode]["test_kl"])
    result = {"study": "collapse-2d", "config": {**settings, "modes": list(args.modes)},
              "thresholds_nats": {"collapsed_kl_below": COLLAPSED_KL, "not_collapsed_kl_above": NOT_COLLAPSED_KL},
              "wall_time_s": time.perf_counter() - start, "cases": cases,
              "overview": str(plot_overview(panels, out / "overview.png"))}
    write_json(out / "results.json", result)
    _print_summary(result, out)
    return result


def _print_summary(result: dict, out: Path) -> None:
    fmt = lambda v: "[" + ", ".join(f"{x:.3f}" for x in v) + "]"  # noqa: E731
    for mode, r in result["cases"].items():
        verdict = "collapsed" if r["collapsed"] else "not collapsed" if r["not_collapsed"] else "in between"
        print(f"{mode}: test KL {r['test_kl']:.3f} nats ({verdict}), test ELBO {r['test_elbo']:.3f} "
              f"(exact log p(x) {r['exact_test_log_likelihood']:.3f}); mu_z = {fmt(r['mu_z_mean'])} +- "
              f"{fmt(r['mu_z_std'])}; std_z = {fmt(r['std_z_mean'])} +- {fmt(r['std_z_std'])}")
        for path in r.get("figures", []):
            print(f"  wrote {path}")
    print(f"wrote {result['overview']}\nwrote {out / 'results.json'}")


@dataclass(frozen=True)
class Collapse2dOptions:
    """The options of ``vaezoo experiment collapse-2d``."""

    modes: Tuple[Literal[MODES], ...] = option(tuple(MODES), "the data: " + ", ".join(MODES))
    count: PositiveInt = option(10000, "points generated (70% train)")
    hidden: Tuple[PositiveInt, ...] = option((32, 32), "encoder and decoder hidden sizes")
    epochs: PositiveInt = option(8, "seed 003: fewer than 10")
    batch_size: PositiveInt = option(128, "the minibatch size")
    lr: PositiveFloat = option(3e-3, "seed 003: below 1e-2")
    seed: int = option(0, "seeds the data, the weights and the noise")
    out: str = option("runs/collapse-2d", "the output folder")
    no_progress: bool = option(False, "no progress bars")


def add_parser(sub) -> None:
    add_command(sub, "collapse-2d", Collapse2dOptions, _run_cli, help="seed 003's 2-D posterior-collapse study (VAE2d)")


def _run_cli(opts: Collapse2dOptions) -> int:
    run(opts)
    return 0
