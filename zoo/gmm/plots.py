"""Figures of a fitted Gaussian mixture: 2-D data with component ellipses, log-likelihood per iteration.

As in :mod:`zoo.plots.images`: ``matplotlib.figure.Figure`` on its Agg canvas, never ``pyplot``.
"""
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

import torch
from matplotlib.figure import Figure

from zoo._utils.io import save_figure

Drawn = Union[Path, Figure]  # the PNG's path; with path=None the figure itself (a notebook shows it)

DPI = 100


def _save(fig: Figure, path):
    return save_figure(fig, path, DPI)


def full_covariances(covariances: torch.Tensor, covariance_type: str, n_components: int, n_features: int):
    """Every component's covariance as a (K, d, d) matrix, whatever the covariance type."""
    if covariance_type == "full":
        return covariances
    if covariance_type == "tied":
        return covariances.expand(n_components, n_features, n_features)
    variances = covariances if covariance_type == "diag" else covariances[:, None].expand(n_components, n_features)
    return torch.diag_embed(variances)


def plot_components(x: torch.Tensor, weights: torch.Tensor, means: torch.Tensor, covariances: torch.Tensor,
                    covariance_type: str, path=None, labels: Optional[torch.Tensor] = None,
                    title: str = "Gaussian mixture", stds: Sequence[float] = (1.0, 2.0)) -> Drawn:
    """2-D points (coloured by ``labels``) with each component's ellipses at ``stds`` standard
    deviations: axes along the eigenvectors of Sigma_k, half-lengths s sqrt(lambda)."""
    from matplotlib.patches import Ellipse

    if x.shape[1] != 2:
        raise ValueError(f"plot_components needs 2-D data, got {x.shape[1]} features")
    k = means.shape[0]
    cov = full_covariances(covariances.detach().cpu().double(), covariance_type, k, 2)
    eigvals, eigvecs = torch.linalg.eigh(cov)
    fig = Figure(figsize=(6, 6), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    x = x.detach().cpu()
    colours = None if labels is None else labels.cpu().numpy()
    ax.scatter(x[:, 0].numpy(), x[:, 1].numpy(), s=3, c=colours, cmap="tab10", alpha=0.5, linewidths=0)
    for j in range(k):
        angle = torch.rad2deg(torch.atan2(eigvecs[j, 1, 1], eigvecs[j, 0, 1])).item()  # the major axis
        for s in stds:
            width, height = (2 * s * eigvals[j].clamp_min(0).sqrt()).flip(0).tolist()
            ax.add_patch(Ellipse(means[j].detach().cpu().tolist(), width, height, angle=angle, fill=False,
                                 color="k", lw=0.5 + 2.5 * float(weights[j]) ** 0.5))
        ax.plot(*means[j].detach().cpu().tolist(), "k+", ms=8)
    ax.set(title=title, xlabel="x1", ylabel="x2")
    ax.set_aspect("equal", adjustable="datalim")
    return _save(fig, path)


def plot_log_likelihood(curves: Dict[str, Sequence[float]], path=None,
                        title: str = "Mean log-likelihood per sample") -> Drawn:
    """One line per method: the mean log-likelihood before each EM iteration or SVI step."""
    fig = Figure(figsize=(7, 4), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    for name, values in curves.items():
        ax.plot(range(1, len(values) + 1), list(values), marker="o" if len(values) <= 50 else None, ms=3, label=name)
    ax.set(xlabel="iteration / step", ylabel="nats per sample", title=title)
    ax.legend()
    return _save(fig, path)
