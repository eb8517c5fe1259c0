"""Figures: samples from the prior, reconstructions beside inputs, training curves (PNG)."""
import math
from pathlib import Path
from typing import List, Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def image_grid(images: torch.Tensor, ncols: int) -> torch.Tensor:
    """Tile ``(N, C, H, W)`` images into one ``(H', W', C)`` array, row by row, 1-px gaps."""
    n, c, h, w = images.shape
    nrows = math.ceil(n / ncols)
    grid = torch.ones(nrows * (h + 1) - 1, ncols * (w + 1) - 1, c)
    for i in range(n):
        r, col = divmod(i, ncols)
        grid[r * (h + 1) : r * (h + 1) + h, col * (w + 1) : col * (w + 1) + w] = images[i].permute(1, 2, 0)
    return grid


def _show(ax, grid: torch.Tensor) -> None:
    if grid.shape[-1] == 1:
        ax.imshow(grid[..., 0].clamp(0, 1).numpy(), cmap="Greys_r", vmin=0, vmax=1)
    else:
        ax.imshow(grid.clamp(0, 1).numpy())
    ax.set_xticks([])
    ax.set_yticks([])


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_samples(samples: torch.Tensor, path, title: str = "Samples from the prior", ncols: int = 10) -> Path:
    """Save a grid of generated images."""
    fig, ax = plt.subplots(figsize=(ncols, math.ceil(samples.shape[0] / ncols) + 0.6))
    _show(ax, image_grid(samples.cpu(), ncols))
    ax.set_title(title)
    return _save(fig, path)


def plot_reconstructions(inputs: torch.Tensor, recons: torch.Tensor, path, title: Optional[str] = None) -> Path:
    """Inputs in the first column, ``k`` reconstructions of each to their right.

    Args:
        inputs: ``(N, C, H, W)``.
        recons: ``(k, N, C, H, W)`` (as from ``VAE.reconstruct``).
    """
    k, n = recons.shape[:2]
    rows = torch.cat([inputs.unsqueeze(1).cpu(), recons.transpose(0, 1).cpu()], dim=1)
    fig, ax = plt.subplots(figsize=(k + 1.5, n + 0.6))
    _show(ax, image_grid(rows.reshape(-1, *inputs.shape[1:]), ncols=k + 1))
    ax.set_title(title or f"Input (left) and {k} reconstructions, z ~ q(z|x)")
    ax.set_xlabel("input | reconstructions")
    return _save(fig, path)


def plot_training_curves(history: List[dict], path, title: str = "Training curves") -> Path:
    """ELBO (train and test) and KL per epoch."""
    epochs = [r["epoch"] for r in history]
    fig, (ax_elbo, ax_kl) = plt.subplots(1, 2, figsize=(11, 4))
    for key, label in _present(history, ("train_elbo", "train ELBO"), ("test_elbo", "test ELBO")):
        ax_elbo.plot(epochs, [r[key] for r in history], marker="o", label=label)
    ax_elbo.plot(epochs, [-r["loss"] for r in history], ls="--", label="training objective (running)")
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
