"""Overhead suite: ``zoo.fit`` (Pyro SVI) against a hand-written PyTorch VAE, same process.

Both train the same architecture with the same objective, optimizer, batch size, batch order
and seed. Their epochs are interleaved (alternating which goes first) so that both see the
same machine state; reported are the test -ELBO of each and the ratio of the median training
time per epoch (zoo / hand-written).
"""
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.reference import TorchVAE, mean_elbo, train_epoch


def _zoo_epoch(vae, train, test, epoch, run_dir, args) -> dict:
    import zoo

    history = zoo.fit(vae, train, test=test, epochs=epoch, out_dir=run_dir, resume=True, progress=False,
                      estimator=args.estimator, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    return history[-1]


def _ref_epoch(ref, opt, train, test, epoch, noise, args) -> dict:
    from zoo.train import epoch_generator

    order = torch.randperm(train.shape[0], generator=epoch_generator(args.seed, epoch))
    loss, seconds = train_epoch(ref, opt, train, order, args.batch_size, noise)
    test_elbo = mean_elbo(ref, test, torch.Generator().manual_seed(args.seed + epoch))
    return {"epoch": epoch, "loss": loss, "train_time_s": seconds, "test_elbo": test_elbo}


def run(args) -> dict:
    """Train both for ``args.epochs`` epochs; write results.json and report.md to ``args.out``."""
    import zoo

    ds = zoo.data.load(args.dataset, args.data_root, binarize=args.binarize, seed=args.seed)
    train, test = ds.train[: args.train_size], ds.test[: args.test_size]
    torch.manual_seed(args.seed)
    vae = zoo.build("vae", data_shape=tuple(train.shape[1:]), hidden=tuple(args.hidden), latent_dim=args.latent_dim)
    torch.manual_seed(args.seed)
    ref = TorchVAE(train[0].numel(), args.hidden, args.latent_dim, analytic_kl=args.estimator == "elbo-kl")
    opt = torch.optim.Adam(ref.parameters(), lr=args.lr)
    noise = torch.Generator().manual_seed(args.seed)
    flat_train, flat_test = train.reshape(train.shape[0], -1), test.reshape(test.shape[0], -1)
    rows = {"zoo": [], "torch": []}
    with tempfile.TemporaryDirectory() as run_dir:
        for epoch in range(1, args.epochs + 1):
            jobs = [("zoo", lambda: _zoo_epoch(vae, train, test, epoch, run_dir, args)),
                    ("torch", lambda: _ref_epoch(ref, opt, flat_train, flat_test, epoch, noise, args))]
            for name, job in jobs if epoch % 2 else reversed(jobs):
                rows[name].append(job())
            print(f"epoch {epoch}: " + "; ".join(
                f"{k} test -ELBO {v[-1]['test_elbo'] * -1:.2f}, {v[-1]['train_time_s']:.2f} s" for k, v in rows.items()))
    result = _summarize(rows, args)
    _write(Path(args.out), result)
    return result


def _summarize(rows: dict, args) -> dict:
    med = {k: statistics.median(r["train_time_s"] for r in v) for k, v in rows.items()}
    final = {k: -v[-1]["test_elbo"] for k, v in rows.items()}
    return {
        "suite": "overhead",
        "config": {k: v for k, v in vars(args).items() if k not in ("run", "command")},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "torch": torch.__version__},
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "final_test_neg_elbo": final,
        "neg_elbo_difference": final["zoo"] - final["torch"],
        "median_epoch_time_s": med,
        "time_ratio": med["zoo"] / med["torch"],
        "epochs": rows,
    }


def _write(out: Path, result: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps(result, indent=2))
    os.replace(tmp, out / "results.json")
    c = result["config"]
    lines = [
        f"# Overhead: zoo.fit (Pyro SVI) vs hand-written PyTorch\n",
        f"{c['dataset']}, {c['train_size'] or 'all'} train / {c['test_size'] or 'all'} test, "
        f"784-{'-'.join(map(str, c['hidden']))}-{c['latent_dim']} tanh, {c['estimator']}, Adam lr {c['lr']}, "
        f"batch {c['batch_size']}, {c['epochs']} epochs, seed {c['seed']}; {result['date']}, "
        f"{result['machine']['cpus']} CPUs, torch {result['machine']['torch']}.\n",
        "| implementation | test -ELBO (nats) | median train time / epoch (s) |",
        "|---|---|---|",
    ]
    for k in ("zoo", "torch"):
        lines.append(f"| {k} | {result['final_test_neg_elbo'][k]:.2f} | {result['median_epoch_time_s'][k]:.3f} |")
    lines.append(f"\n-ELBO difference (zoo - torch): {result['neg_elbo_difference']:+.2f} nats; "
                 f"time ratio (zoo / torch): {result['time_ratio']:.3f}\n")
    (out / "report.md").write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {out / 'results.json'} and {out / 'report.md'}")


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="run a benchmark suite")
    p.add_argument("suite", choices=["overhead"])
    p.add_argument("--dataset", default="binarized-mnist")
    p.add_argument("--data-root", default=None)
    p.add_argument("--binarize", default=None, choices=["static", "threshold"],
                   help="for grayscale datasets")
    p.add_argument("--train-size", type=int, default=None)
    p.add_argument("--test-size", type=int, default=None)
    p.add_argument("--hidden", type=int, nargs="+", default=[200, 200])
    p.add_argument("--latent-dim", type=int, default=50)
    p.add_argument("--estimator", default="elbo", choices=["elbo", "elbo-kl"])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="bench/overhead")
    p.set_defaults(run=_run_cli)


def _run_cli(args) -> int:
    run(args)
    return 0
