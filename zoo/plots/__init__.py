"""Figures as PNG files: image grids and curves (:mod:`zoo.plots.images`), sequences (:mod:`zoo.plots.seq`)."""
from zoo.plots.images import (
    DPI,
    image_grid,
    plot_image_rows,
    plot_interpolations,
    plot_khat_histogram,
    plot_latent_scatter,
    plot_many_reconstructions,
    plot_perturbations,
    plot_reconstructions,
    plot_samples,
    plot_training_curves,
    project_2d,
)

__all__ = ["DPI", "image_grid", "plot_image_rows", "plot_interpolations", "plot_khat_histogram",
           "plot_latent_scatter", "plot_many_reconstructions", "plot_perturbations", "plot_reconstructions",
           "plot_samples", "plot_training_curves", "project_2d"]
