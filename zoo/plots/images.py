r"""Figures as PNG files: samples, reconstructions, training curves, interpolations,
perturbations, the latent space coloured by label, and PSIS k-hat.

Figures are built with ``matplotlib.figure.Figure`` and its Agg canvas, never through
``pyplot``: nothing here selects a backend, keeps figures alive, or touches a notebook's
state, and it runs on machines without a display. Every figure has a title and labelled axes,
and its size is fixed in inches at ``DPI`` (no tight bounding box), so its pixel size is known.

Image grids take tensors ``(N, C, H, W)`` with values in [0, 1] (e.g. Bernoulli means).
"""
import math
from pathlib import Path
from typing import List, Optional, Sequence, Union

import torch
from matplotlib.figure import Figure

from zoo._utils.io import save_figure

Drawn = Union[Path, Figure]  # the PNG's path; with path=None the figure itself (a notebook shows it)

DPI = 100
CELL = 0.8  # inches per image in a grid
KHAT_LINES = (0.5, 0.7)  # Yao et al. 2018: k-hat thresholds


def image_grid(images: torch.Tensor, ncols: int) -> torch.Tensor:
    """Tile ``(N, C, H, W)`` images into one ``(H', W', C)`` array, row by row, 1-px gaps."""
    n, c, h, w = images.shape
    nrows = math.ceil(n / ncols)
    grid = torch.ones(nrows * (h + 1) - 1, ncols * (w + 1) - 1, c)
    for i in range(n):
        r, col = divmod(i, ncols)
        grid[r * (h + 1) : r * (h + 1) + h, col * (w + 1) : col * (w + 1) + w] = images[i].permute(1, 2, 0)
    return grid


def grid_figsize(nrows: int, ncols: int, extra_width: float = 0.0) -> tuple:
    """Inches of a one-grid figure: ``(ncols * CELL + 0.6 + extra_width, nrows * CELL + 0.9)``."""
    return ncols * CELL + 0.6 + extra_width, nrows * CELL + 0.9


def _figure(figsize) -> Figure:
    return Figure(figsize=figsize, dpi=DPI, layout="constrained")


def _show(ax, grid: torch.Tensor) -> None:
    grid = grid.detach().cpu().float()
    if grid.shape[-1] == 1:
        ax.imshow(grid[..., 0].clamp(0, 1).numpy(), cmap="Greys_r", vmin=0, vmax=1)
    else:
        ax.imshow(grid.clamp(0, 1).numpy())
    ax.set_xticks([])
    ax.set_yticks([])


def _save(fig: Figure, path):
    return save_figure(fig, path, DPI)


def plot_samples(samples: torch.Tensor, path=None, title: str = "Samples from the prior", ncols: int = 10) -> Drawn:
    """A grid of generated images ``(N, C, H, W)``; ``grid_figsize(ceil(N / ncols), ncols)`` inches."""
    nrows = math.ceil(samples.shape[0] / ncols)
    fig = _figure(grid_figsize(nrows, ncols))
    ax = fig.subplots()
    _show(ax, image_grid(samples.cpu(), ncols))
    ax.set(title=title, xlabel=f"{samples.shape[0]} images, x ~ p(x|z) mean, z ~ p(z)")
    return _save(fig, path)


def plot_reconstructions(inputs: torch.Tensor, recons: torch.Tensor, path=None, title: Optional[str] = None) -> Drawn:
    """Inputs in the first column, ``k`` reconstructions of each to their right;
    ``grid_figsize(N, k + 1)`` inches.

    Args:
        inputs: ``(N, C, H, W)``.
        recons: ``(k, N, C, H, W)`` (as from ``VAE.reconstruct``).
    """
    k, n = recons.shape[:2]
    rows = torch.cat([inputs.unsqueeze(1).cpu(), recons.transpose(0, 1).cpu()], dim=1)
    fig = _figure(grid_figsize(n, k + 1))
    ax = fig.subplots()
    _show(ax, image_grid(rows.reshape(-1, *inputs.shape[1:]), ncols=k + 1))
    ax.set(title=title or f"Input (left) and {k} reconstructions, z ~ q(z|x)",
           xlabel="input | reconstructions", ylabel="test input")
    return _save(fig, path)


def plot_many_reconstructions(x: torch.Tensor, recons: torch.Tensor, path=None, ncols: int = 10,
                              title: Optional[str] = None) -> Drawn:
    """One input ``(C, H, W)`` beside ``k`` reconstructions ``(k, C, H, W)`` of it, z ~ q(z|x)
    (the binarized-MNIST VAE tutorial); ``grid_figsize(ceil(k / ncols), ncols, extra_width=CELL * 1.5)`` inches."""
    k = recons.shape[0]
    nrows = math.ceil(k / ncols)
    fig = _figure(grid_figsize(nrows, ncols, extra_width=CELL * 1.5))
    ax_in, ax_rec = fig.subplots(1, 2, width_ratios=[1, ncols])
    _show(ax_in, x.cpu().permute(1, 2, 0))
    ax_in.set(title="input", xlabel="x")
    _show(ax_rec, image_grid(recons.cpu(), ncols))
    ax_rec.set(title=f"{k} reconstructions", xlabel="mean of p(x|z), z ~ q(z|x)")
    fig.suptitle(title or "Many reconstructions of one input")
    return _save(fig, path)


def plot_training_curves(history: List[dict], path=None, title: str = "Training curves",
                         log_likelihood: Optional[float] = None, num_samples: Optional[int] = None) -> Drawn:
    """ELBO (train, test, running objective) and KL per epoch, 11 x 4 inches; with
    ``log_likelihood``, the final test log p(x) estimate (S = ``num_samples``) as a line."""
    epochs = [r["epoch"] for r in history]
    fig = _figure((11, 4))
    ax_elbo, ax_kl = fig.subplots(1, 2)
    for key, label in _present(history, ("train_elbo", "train ELBO"), ("test_elbo", "test ELBO (bound)")):
        ax_elbo.plot(epochs, [r[key] for r in history], marker="o", label=label)
    ax_elbo.plot(epochs, [-r["loss"] for r in history], ls="--", label="training objective (running)")
    if log_likelihood is not None:
        label = "test log p(x), importance sampled" + (f", S={num_samples}" if num_samples else "")
        ax_elbo.axhline(log_likelihood, color="k", ls=":", label=label)
    ax_elbo.set(xlabel="epoch", ylabel="nats per datapoint", title="ELBO")
    ax_elbo.legend()
    kl_keys = _present(history, ("train_kl", "train"), ("test_kl", "test"))
    for key, label in kl_keys:
        ax_kl.plot(epochs, [r[key] for r in history], marker="o", label=label)
    ax_kl.set(xlabel="epoch", ylabel="nats per datapoint", title="KL(q(z|x) || p(z))")
    if kl_keys:
        ax_kl.legend()
    else:
        ax_kl.text(0.5, 0.5, "not defined for this model", ha="center", va="center", transform=ax_kl.transAxes)
    fig.suptitle(title)
    return _save(fig, path)


def _present(history: List[dict], *pairs: Sequence[str]):
    return [(k, label) for k, label in pairs if history and k in history[0]]


def plot_image_rows(rows: torch.Tensor, path=None, title: str = "", xlabel: str = "",
                    row_labels: Optional[Sequence[str]] = None, ylabel: str = "") -> Drawn:
    """Rows of images ``(R, K, C, H, W)``, one labelled row each; ``grid_figsize(R, K, 0.8)`` inches."""
    r, k = rows.shape[:2]
    fig = _figure(grid_figsize(r, k, extra_width=0.8))
    ax = fig.subplots()
    _show(ax, image_grid(rows.reshape(-1, *rows.shape[2:]).cpu(), ncols=k))
    h = rows.shape[-2]
    if row_labels is not None:
        ax.set_yticks([i * (h + 1) + h / 2 for i in range(r)], labels=list(row_labels))
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return _save(fig, path)


def plot_interpolations(images: torch.Tensor, path=None, row_labels: Optional[Sequence[str]] = None,
                        title: str = "Interpolation in latent space") -> Drawn:
    """Decoded codes along straight lines z(t) = (1 - t) z_0 + t z_1 (``zoo.evaluation.latent.interpolate``),
    one path a row ``(R, steps, C, H, W)`` (the convolutional-VAE interpolation tutorial)."""
    return plot_image_rows(images, path, title, xlabel=f"t = 0 to 1 in {images.shape[1]} steps, decoded mean",
                           row_labels=row_labels, ylabel="start to end")


def plot_perturbations(images: torch.Tensor, path=None, row_labels: Optional[Sequence[str]] = None,
                       title: str = "Random perturbations around a code: decoder(z + eps), eps ~ N(0, I)") -> Drawn:
    """Per row ``(R, 1 + k, C, H, W)``: the decoded code, then ``k`` decoded perturbations of it
    (``zoo.evaluation.latent.perturb``, the convolutional-VAE interpolation tutorial)."""
    return plot_image_rows(images, path, title, xlabel="decoded code | decoded perturbations",
                           row_labels=row_labels, ylabel="code")


def project_2d(codes: torch.Tensor):
    """Codes ``(N, d)`` in two dimensions: themselves for d <= 2, else their first two principal
    components. Returns ``(points (N, 2), axis labels)``."""
    codes = codes.detach().cpu().double()
    if codes.shape[1] == 1:
        return torch.cat([codes, torch.zeros_like(codes)], 1), ["z_1", "(none: latent_dim = 1)"]
    if codes.shape[1] == 2:
        return codes, ["z_1", "z_2"]
    centred = codes - codes.mean(0)
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    share = s.pow(2) / s.pow(2).sum()
    return centred @ vh[:2].T, [f"PC {i + 1} ({100 * share[i]:.0f}% of variance)" for i in range(2)]


def plot_latent_scatter(codes: torch.Tensor, path=None, labels: Optional[torch.Tensor] = None,
                        title: str = "Posterior means E[z|x]") -> Drawn:
    """Codes ``(N, d)`` as points coloured by integer ``labels`` (PCA when d > 2), 7 x 6 inches."""
    points, axis_labels = project_2d(codes)
    fig = _figure((7, 6))
    ax = fig.subplots()
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=4, alpha=0.5)
        title += " (no labels)"
    else:
        classes = torch.unique(labels)
        cmap = "tab10" if len(classes) <= 10 else "viridis"
        sc = ax.scatter(points[:, 0], points[:, 1], c=labels.cpu().numpy(), s=4, alpha=0.6, cmap=cmap)
        fig.colorbar(sc, ax=ax, label="label", ticks=classes.tolist() if len(classes) <= 10 else None)
    ax.set(title=title + (f", PCA of {codes.shape[1]} dimensions" if codes.shape[1] > 2 else ""),
           xlabel=axis_labels[0], ylabel=axis_labels[1])
    return _save(fig, path)


def plot_khat_histogram(khat: torch.Tensor, path=None, title: str = "PSIS k-hat per datapoint") -> Drawn:
    """Histogram of per-datapoint Pareto k-hat with the 0.5 and 0.7 thresholds, 7 x 4.5 inches.

    Values of ``-inf`` (tied largest weights: a bounded tail) and NaN are counted in the legend,
    not drawn."""
    k = torch.as_tensor(khat, dtype=torch.float64)
    finite = k[torch.isfinite(k)]
    fig = _figure((7, 4.5))
    ax = fig.subplots()
    label = f"{len(finite)} datapoints" + (f" (+{len(k) - len(finite)} not finite)" if len(finite) < len(k) else "")
    ax.hist(finite.numpy(), bins=min(50, max(5, len(finite) // 10)), color="tab:blue", alpha=0.8, label=label)
    for t, colour in zip(KHAT_LINES, ("tab:orange", "tab:red")):
        ax.axvline(t, color=colour, ls="--", label=f"k = {t}: {100 * (k > t).double().mean():.1f}% above")
    ax.set(title=title, xlabel="Pareto k-hat of the importance weights p(x, z) / q(z|x)", ylabel="datapoints")
    ax.legend()
    return _save(fig, path)
