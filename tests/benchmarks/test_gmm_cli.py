"""``vaezoo gmm`` in subprocesses on tiny data, and the benchmark function in-process."""
import json

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from benchmarks import gmm_speed as gmm_cli
from tests.clitools import vaezoo
from zoo import cli
from zoo.gmm.em import GaussianMixtureEM


def test_gmm_on_blobs_prints_plots_and_matches_an_in_process_fit(tmp_path):
    proc = vaezoo("gmm", "--n-samples", 300, "--n-components", 3, "--seed", 4, "--svi-steps", 3, "--threads", 1,
                  "--out", tmp_path)
    for word in ("log-likelihood", "nats per sample", "BIC", "iterations", " s", "SVI"):
        assert word in proc.stdout, word
    for name in ("components.png", "log_likelihood.png", "results.json"):
        assert (tmp_path / name).stat().st_size > 0 and str(tmp_path / name) in proc.stdout
    result = json.loads((tmp_path / "results.json").read_text())
    x, _ = gmm_cli.make_blobs(300, 2, 3, center_box=10.0, seed=4)
    gm = GaussianMixtureEM(3, random_state=4).fit(x)
    assert result["em"]["log_likelihood"] == pytest.approx(gm.score(x), rel=1e-12)
    assert result["em"]["bic"] == pytest.approx(gm.bic(x), rel=1e-12)
    assert result["em"]["n_iter"] == gm.n_iter_ and result["em"]["lower_bounds"] == pytest.approx(gm.lower_bounds_)
    assert len(result["svi"]) and result["svi"]["steps"] == 3


def test_gmm_on_mnist_pca_in_process(tmp_path, capsys):
    assert cli.main(["gmm", "--dataset", "mnist5k", "--n-samples", "400", "--pca-dim", "3", "--n-components", "4",
                     "--covariance-type", "diag", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "results.json").read_text())
    assert result["n_samples"] == 400 and result["n_features"] == 3 and result["em"]["log_likelihood"] < 0
    assert (tmp_path / "log_likelihood.png").exists() and not (tmp_path / "components.png").exists()
    assert "components.png" not in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--covariance-type", "ful"], "--covariance-type: expected one of full, tied, diag, spherical, got 'ful'"),
    (["--covariance-type", "tied", "--svi-steps", "2"],
     "unknown covariance_type 'tied' for SVI; choose from full, diag"),
    (["--n-samples", "0"], "--n-samples: expected an integer > 0 or null, got '0'"),
    (["--benchmark", "--dataset", "mnist5k"], "--benchmark runs on blobs"),
])
def test_clean_errors(tmp_path, capsys, args, message):
    assert cli.main(["gmm", *args, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("vaezoo gmm: error:")


def test_pca_projection_matches_sklearn_up_to_sign():
    images = torch.rand(200, 1, 6, 5, generator=torch.Generator().manual_seed(0))
    ours = gmm_cli.pca_project(images, 3).numpy()
    ref = PCA(3).fit_transform(images.reshape(200, -1).double().numpy())
    np.testing.assert_allclose(np.abs(ours), np.abs(ref), rtol=1e-8, atol=1e-10)
    with pytest.raises(ValueError, match="pca_dim must be at most the 30 pixels, got 31"):
        gmm_cli.pca_project(images, 31)


def test_make_blobs_is_seeded_and_shaped():
    x, labels = gmm_cli.make_blobs(101, 3, 4, seed=2)
    assert x.shape == (101, 3) and x.dtype == torch.float64
    assert torch.equal(torch.bincount(labels), torch.tensor([26, 25, 25, 25]))
    assert torch.equal(x, gmm_cli.make_blobs(101, 3, 4, seed=2)[0])
    assert not torch.equal(x, gmm_cli.make_blobs(101, 3, 4, seed=3)[0])


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_run_benchmark_agrees_with_sklearn_on_small_data(covariance_type):
    svi_steps = 2 if covariance_type in ("full", "diag") else 0
    result = gmm_cli.run_benchmark(n_samples=3000, n_features=4, n_components=3, covariance_type=covariance_type,
                                   repeats=1, tol=1e-6, svi_steps=svi_steps)
    assert result["em"]["n_iter"] == result["sklearn"]["n_iter"] > 1
    assert result["relative_lower_bound_difference"] < 1e-12 and result["max_abs_mean_difference"] < 1e-9
    for name in ("em", "sklearn"):
        assert len(result[name]["times_s"]) == 1 and result[name]["median_s"] > 0
    assert result["speedup"] > 0 and result["machine"]["threads"] == 1 and result["config"]["n_samples"] == 3000
    assert len(result["iteration_time_ratios"]) == 5 and min(result["iteration_time_ratios"]) > 0
    if svi_steps:
        assert result["svi"]["steps"] == 2 and np.isfinite(result["svi"]["log_likelihood"])
    else:
        assert "svi" not in result
    assert "speedup" in gmm_cli.format_report(result)


def test_benchmark_command_writes_report(tmp_path, capsys):
    assert cli.main(["gmm", "--benchmark", "--n-samples", "2000", "--n-features", "3", "--n-components", "3",
                     "--repeats", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "speedup" in out and "1 torch / BLAS thread(s)" in out and (tmp_path / "report.md").exists()
    result = json.loads((tmp_path / "results.json").read_text())
    assert result["config"]["n_samples"] == 2000 and result["config"]["center_box"] == 1.0
    assert result["relative_lower_bound_difference"] < 1e-10
