"""The SNR cells of the estimators suite on the Gaussian toy: the two regimes of Rainforth et
al. 2018 / Tucker et al. 2018 (IWAE's guide SNR falls like K^-1/2, DReG's does not)."""
import pytest

from benchmarks.runner import Context
from benchmarks.suites import snr


@pytest.mark.slow
def test_toy_shows_iwae_falling_like_inverse_sqrt_k_and_dreg_not():
    config = {"kind": "snr-toy", "toy_dim": 5, "toy_ks": [1, 100], "snr_draws": 300, "seed": 0}
    out = snr.run_toy(config, Context(progress=False))
    s = out["snr"]
    ratio = s["iwae"]["100"]["guide"] / s["iwae"]["1"]["guide"]
    assert 1 / 20 < ratio < 1 / 5  # K^-1/2 = 1/10
    assert s["iwae-dreg"]["100"]["guide"] > s["iwae-dreg"]["1"]["guide"]
    assert s["iwae-dreg"]["100"]["guide"] > 10 * s["iwae"]["100"]["guide"]
    # the model gradient's SNR grows like K^{1/2} [Rainforth et al., Theorem 1]
    assert s["iwae"]["100"]["model"] > 4 * s["iwae"]["1"]["model"]
    assert abs(out["floor"] - 300 ** -0.5) < 1e-12


def test_only_runs_and_reports_the_cells_of_a_kind(tmp_path):
    import json

    import pytest

    from benchmarks import runner
    from benchmarks.suites import estimators

    out = tmp_path / "est"
    result = runner.run(estimators, "smoke", out=out, context=Context(progress=False), only=["snr-toy"])
    assert result["ran"] == 1 and [r["config"]["kind"] for r in result["records"]] == ["snr-toy"]
    text = result["report"].read_text()
    assert "Gaussian toy" in text and "fixed trained networks" not in text and "--only snr-toy" in text
    assert len(json.loads((out / runner.RESULTS).read_text())["records"]) == 1
    with pytest.raises(ValueError, match="--only nope: the estimators suite has cells of the kinds snr-fixed"):
        runner.run(estimators, "smoke", out=tmp_path / "x", context=Context(progress=False), only=["nope"])
    assert not (tmp_path / "x").exists()  # refused before anything is written


def test_report_only_reports_the_finished_cells_and_runs_nothing(tmp_path):
    import pytest

    from benchmarks import runner
    from benchmarks.suites import estimators

    out = tmp_path / "est"
    with pytest.raises(ValueError, match="holds no finished cell"):
        runner.run(estimators, "smoke", out=out, context=Context(progress=False), report_only=True)
    runner.run(estimators, "smoke", out=out, context=Context(progress=False), only=["snr-toy"])
    result = runner.run(estimators, "smoke", out=out, context=Context(progress=False), report_only=True)
    assert result["ran"] == 0 and [r["config"]["kind"] for r in result["records"]] == ["snr-toy"]
    text = result["report"].read_text()
    assert "Gaussian toy" in text and "**Partial: 1 of the 5 cells are finished" in text
