"""Every figure function writes a non-empty PNG of the pixel size its docstring states."""
import math
import os
import struct
import subprocess
import sys

import pytest
import torch

from zoo import plots

IMAGES = torch.rand(20, 1, 28, 28)
HISTORY = [{"epoch": e, "loss": 100.0 / e, "train_elbo": -100.0 / e, "test_elbo": -105.0 / e,
            "train_kl": 5.0 + e, "test_kl": 5.5 + e} for e in (1, 2, 3)]


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])  # IHDR: width, height


def pixels(width_in, height_in):
    return round(width_in * plots.DPI), round(height_in * plots.DPI)


def grid(nrows, ncols, extra=0.0):
    """The docstrings' size rule: ncols * 0.8 + 0.6 (+ extra) by nrows * 0.8 + 0.9 inches."""
    return pixels(ncols * 0.8 + 0.6 + extra, nrows * 0.8 + 0.9)


CASES = {
    "samples": (lambda p: plots.plot_samples(IMAGES, p, ncols=10), grid(2, 10)),
    "reconstructions": (lambda p: plots.plot_reconstructions(IMAGES[:4], IMAGES[:12].reshape(3, 4, 1, 28, 28), p),
                        grid(4, 4)),
    "many_reconstructions": (lambda p: plots.plot_many_reconstructions(IMAGES[0], IMAGES[:15], p, ncols=5),
                             grid(3, 5, extra=1.2)),
    "training_curves": (lambda p: plots.plot_training_curves(HISTORY, p, log_likelihood=-90.0, num_samples=5000),
                        pixels(11, 4)),
    "training_curves_no_kl": (lambda p: plots.plot_training_curves(
        [{k: v for k, v in r.items() if not k.endswith("kl")} for r in HISTORY], p), pixels(11, 4)),
    "interpolations": (lambda p: plots.plot_interpolations(IMAGES.reshape(2, 10, 1, 28, 28), p, ["a", "b"]),
                       grid(2, 10, extra=0.8)),
    "perturbations": (lambda p: plots.plot_perturbations(IMAGES.reshape(4, 5, 1, 28, 28), p), grid(4, 5, extra=0.8)),
    "image_rows_rgb": (lambda p: plots.plot_image_rows(torch.rand(1, 6, 3, 8, 8), p, "t", "x"), grid(1, 6, extra=0.8)),
    "scatter_2d": (lambda p: plots.plot_latent_scatter(torch.randn(50, 2), p, torch.arange(50) % 10), pixels(7, 6)),
    "scatter_pca": (lambda p: plots.plot_latent_scatter(torch.randn(50, 6), p, torch.arange(50) % 3), pixels(7, 6)),
    "scatter_unlabelled_1d": (lambda p: plots.plot_latent_scatter(torch.randn(50, 1), p), pixels(7, 6)),
    "khat": (lambda p: plots.plot_khat_histogram(torch.tensor([0.1, 0.6, 0.8, -math.inf, math.nan] * 10), p),
             pixels(7, 4.5)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_figure_is_a_png_of_the_stated_size(tmp_path, name):
    draw, size = CASES[name]
    path = draw(tmp_path / "sub" / f"{name}.png")
    assert path.exists() and path.stat().st_size > 1000
    assert png_size(path) == size


@pytest.mark.parametrize("name", sorted(CASES))
def test_without_a_path_the_figure_itself_comes_back_for_a_notebook(tmp_path, name):
    from matplotlib.figure import Figure

    draw, size = CASES[name]
    fig = draw(None)
    assert isinstance(fig, Figure) and not list(tmp_path.iterdir())
    assert tuple(round(v * fig.dpi) for v in fig.get_size_inches()) == size


def test_pca_projection_preserves_a_plane():
    """Points on a 2-D plane in R^5 keep their pairwise distances under the 2-D PCA projection."""
    basis, _ = torch.linalg.qr(torch.randn(5, 2, dtype=torch.float64))
    codes = torch.randn(40, 2, dtype=torch.float64) @ basis.T + torch.randn(5, dtype=torch.float64)
    points, labels = plots.project_2d(codes)
    torch.testing.assert_close(torch.cdist(points, points), torch.cdist(codes, codes))
    shares = [int(label.split("(")[1].split("%")[0]) for label in labels]  # "PC 1 (56% of variance)"
    assert labels[0].startswith("PC 1") and abs(sum(shares) - 100) <= 1


def test_image_grid_layout():
    images = torch.arange(3.0).reshape(3, 1, 1, 1).expand(3, 1, 2, 2)
    g = plots.image_grid(images, ncols=2)
    assert g.shape == (5, 5, 1)
    assert g[0, 0, 0] == 0 and g[0, 3, 0] == 1 and g[3, 0, 0] == 2 and g[2, 2, 0] == 1  # gaps are white


def test_no_pyplot_and_no_backend_switch(tmp_path):
    """Figures go through Figure + Agg: pyplot is never imported and the backend setting is untouched."""
    code = ("import sys, matplotlib, torch; "
            "from zoo import plots; plots.plot_samples(torch.rand(4, 1, 5, 5), sys.argv[1], ncols=2); "
            "assert 'matplotlib.pyplot' not in sys.modules; "
            "assert matplotlib.rcParams['backend'] == 'svg', matplotlib.rcParams['backend']")
    env = dict(os.environ, MPLBACKEND="svg")  # a backend that cannot write PNG: the figure must not need it
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.png")], check=True, env=env)
    assert png_size(tmp_path / "a.png") == grid(2, 2)
