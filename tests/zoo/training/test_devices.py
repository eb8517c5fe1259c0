"""zoo.fit and vaezoo train on a device: the CPU path, and CUDA refused clearly where there is none."""
import pytest
import torch

import zoo
from tests.clitools import TINY
from zoo.cli import main

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")


def test_device_cpu_is_the_default_path(make_vae, mnist_bin):
    x = mnist_bin[0][:200]
    a, b = make_vae(), make_vae()
    ha = zoo.fit(a, x, epochs=2, progress=False, batch_size=50)
    hb = zoo.fit(b, x, epochs=2, progress=False, batch_size=50, device="cpu")
    drop = lambda h: [{k: v for k, v in r.items() if not k.endswith("_time_s")} for r in h]  # noqa: E731
    assert drop(ha) == drop(hb)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


@NO_CUDA
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_without_cuda_is_refused(make_vae, mnist_bin, tmp_path, device):
    with pytest.raises(ValueError, match=f"device '{device}' was asked for, but torch sees no CUDA device"):
        zoo.fit(make_vae(), mnist_bin[0][:100], epochs=1, out_dir=tmp_path / "run", progress=False, device=device)
    assert not (tmp_path / "run").exists()


def test_unknown_device_names_the_choices(make_vae, mnist_bin):
    with pytest.raises(ValueError, match="unknown device 'gpu'; choose from cpu, cuda, cuda:<index>"):
        zoo.fit(make_vae(), mnist_bin[0][:100], epochs=1, progress=False, device="gpu")


@NO_CUDA
def test_cli_refuses_cuda_before_touching_the_run_directory(tmp_path, capsys):
    assert main(["train", *TINY, "--device", "cuda", "--out", str(tmp_path / "run")]) == 2
    assert "torch sees no CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
