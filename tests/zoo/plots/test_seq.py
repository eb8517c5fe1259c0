"""Tests of zoo.plots.seq: the sinusoid fit behind the traversal figure, and the figures' files."""
import math

import numpy as np
import torch

import zoo
from zoo.plots.seq import sinusoid_features, write_figures


def test_sinusoid_features_recover_the_generating_factors():
    """Noise-free curves are sinusoids exactly, so the least-squares fit recovers A, f and phi
    to float32 rounding; with noise 0.05 (SNR ~ 200 over 50 samples) to a few percent."""
    for noise, tol in ((0.0, {"amplitude": 1e-5, "frequency": 1e-6, "phase": 1e-4}),
                       (0.05, {"amplitude": 0.05, "frequency": 1e-3, "phase": 0.2})):
        ds = zoo.data.sines(num_train=1, num_test=100, noise=noise, seed=4)
        found = sinusoid_features(ds.test)
        for name, limit in tol.items():
            diff = found[name] - ds.factors["test"][name].double().numpy()
            if name == "phase":
                diff = (diff + math.pi) % (2 * math.pi) - math.pi
            assert np.abs(diff).max() < limit, (noise, name)


def test_write_figures_for_a_sequence_model(tmp_path):
    ds = zoo.data.sines(num_train=10, num_test=30)
    torch.manual_seed(0)
    vae = zoo.build("seq-vae", latent_dim=3, guide="planar:2")  # a flow: Monte Carlo posterior means
    history = [{"epoch": 1, "loss": 3.0, "train_elbo": -3.0, "test_elbo": -3.5, "train_kl": 1.0, "test_kl": 1.0}]
    paths = write_figures(tmp_path, vae.train(), ds.test[:6], history, factors=ds.factors["test"], test=ds.test)
    names = {p.name for p in paths}
    assert names == {"reconstructions.png", "samples.png", "latent_traversal.png", "training_curves.png",
                     "latent_scatter.png"}
    assert all(p.stat().st_size > 1000 for p in paths)
    assert vae.training  # the mode is restored
