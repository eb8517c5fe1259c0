r"""DDP suite: one model trained by 1 process x 1 thread, 1 process x 2 threads, and 2 processes x 1
thread (``torchrun``, gloo), on the same global batch, data and seed.

Each cell runs ``vaezoo train`` in a subprocess (through ``torch.distributed.run --standalone``
for 2 processes, on loopback) with ``OMP_NUM_THREADS`` set, and reports the median training
time of an epoch (from the run's history) and the final test ELBO. The report gives each
layout's epoch time as a ratio to 1 x 1: ideal data parallelism on 2 processes is 0.5.
"""
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import List

from benchmarks import report as rep
from benchmarks.suite import DataSettings
from zoo.training import Run

NAME = "ddp"
DEVICES = ("cpu",)
LAYOUTS = [[1, 1], [1, 2], [2, 1]]  # [processes, threads per process]


@dataclass(frozen=True)
class DDPSettings(DataSettings):
    hidden: List[int]
    latent_dim: int
    batch_size: int
    epochs: int
    layouts: List[list]


_NET = dict(hidden=[200, 200], latent_dim=50, batch_size=100)  # 784-200-200-50, global batch 100
PROFILES = {
    "smoke": DDPSettings(description="1,000 embedded digits, 2 epochs, a 32-unit network", dataset="mnist5k",
                         binarize="static", train_size=1000, test_size=200, **{**_NET, "hidden": [32], "latent_dim": 4},
                         epochs=2, layouts=LAYOUTS, seeds=1),
    "quick": DDPSettings(description="binarized MNIST, the first 10,000 training images, 3 epochs",
                         dataset="binarized-mnist", binarize=None, train_size=10000, test_size=2000, **_NET, epochs=3,
                         layouts=LAYOUTS, seeds=1),
    "paper": DDPSettings(description="binarized MNIST, all 50,000 training images, 5 epochs", dataset="binarized-mnist",
                         binarize=None, train_size=None, test_size=None, **_NET, epochs=5, layouts=LAYOUTS, seeds=3),
}
_CELL_KEYS = ("dataset", "binarize", "train_size", "test_size", "hidden", "latent_dim", "batch_size", "epochs")


def cells(settings: DDPSettings, seeds) -> list:
    common = {k: getattr(settings, k) for k in _CELL_KEYS}
    return [{**common, "processes": p, "threads": t, "seed": seed} for p, t in settings.layouts for seed in seeds]


def _train_args(config: dict, out: Path) -> List[str]:
    args = ["train", "--dataset", config["dataset"], "--hidden", *map(str, config["hidden"]),
            "--latent-dim", str(config["latent_dim"]), "--batch-size", str(config["batch_size"]),
            "--epochs", str(config["epochs"]), "--seed", str(config["seed"]), "--out", str(out), "--no-progress"]
    args += ["--binarize", config["binarize"] or "none"]
    for key in ("train_size", "test_size"):
        if config[key]:
            args += [f"--{key.replace('_', '-')}", str(config[key])]
    return args


def run_cell(config: dict, context) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        launcher = [sys.executable, "-m", "zoo.cli"] if config["processes"] == 1 else \
            [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={config['processes']}",
             "-m", "zoo.cli"]
        env = {**os.environ, "OMP_NUM_THREADS": str(config["threads"]), "MPLBACKEND": "Agg"}
        if context.data_root:
            env["VAEZOO_DATA"] = str(context.data_root)
        proc = subprocess.run(launcher + _train_args(config, out), env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"the {config['processes']}x{config['threads']} run failed:\n{proc.stderr[-2000:]}")
        history = Run(out).history()
    times = [r["train_time_s"] for r in history]
    return {"epoch_time_s": statistics.median(times), "epoch_times_s": times, "test_elbo": history[-1]["test_elbo"]}


def report(records: list, settings: dict, out: Path):
    groups = rep.by_cell(records)
    one = [r for r in records if (r["config"]["processes"], r["config"]["threads"]) == (1, 1)]
    base = {r["seed"]: r["result"]["epoch_time_s"] for r in one}
    rows = []
    for g in groups:
        c = g[0]["config"]
        ratios = [r["result"]["epoch_time_s"] / base[r["seed"]] if r["seed"] in base else None for r in g]
        rows.append([f"{c['processes']} x {c['threads']}", rep.aggregate(g, lambda r: r["epoch_time_s"], ".2f"),
                     rep.fmt(rep.mean_std(ratios), ".3f"), rep.aggregate(g, lambda r: r["test_elbo"], ".2f")])
    c = records[0]["config"]
    text = rep.header("DDP: processes x threads on one global batch", settings, records) + (
        f"{c['dataset']}, {c['train_size'] or 'all'} training images, 784-{'-'.join(map(str, c['hidden']))}-"
        f"{c['latent_dim']}, global batch {c['batch_size']}, {c['epochs']} epochs, `vaezoo train` in subprocesses "
        "(2 processes: `torchrun --standalone`, gloo). Epoch time: median training time of an epoch; ratio: to "
        "1 process x 1 thread (ideal for 2 processes: 0.5; target ≤ 0.75).\n\n"
        + rep.table(["processes x threads", "s / epoch", "ratio to 1 x 1", "test ELBO"], rows))
    return text, []
