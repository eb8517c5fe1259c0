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
                      estimator=args.estimator, num_particles=args.num_particles, batch_size=args.batch_size,
                      lr=args.lr, seed=args.seed)
    return history[-1]


def _ref_epoch(ref, opt, train, test, epoch, noise, args) -> dict:
    from zoo.train import epoch_generator

    order = torch.randperm(train.shape[0], generator=epoch_generator(args.seed, epoch))
    loss, seconds = train_epoch(ref, opt, train, order, args.batch_size, noise,
                                ref.objective(args.estimator, args.num_particles))
    test_elbo = mean_elbo(ref, test, torch.Generator().manual_seed(args.seed + epoch))
    return {"epoch": epoch, "loss": loss, "train_time_s": seconds, "test_elbo": test_elbo}


def step_ratios(vae, ref, x: torch.Tensor, args, rounds: int = 30, steps: int = 20) -> list:
    """Per-round ratios of zoo to hand-written step time, alternating blocks of ``steps``.

    Alternating short blocks cancels the slow drifts of a shared machine that epoch
    timings pick up; the median of the ratios is the robust summary.
    """
    import pyro
    import zoo
    from pyro.infer import SVI
    from zoo.optim import module_optim

    estimator = zoo.estimators.get(args.estimator, num_particles=args.num_particles)
    svi = SVI(vae.model, vae.guide, module_optim("adam", vae, lr=args.lr), estimator)
    opt = torch.optim.Adam(ref.parameters(), lr=args.lr)
    noise, flat = torch.Generator().manual_seed(args.seed), x.reshape(x.shape[0], -1)
    loss_fn = ref.objective(args.estimator, args.num_particles)
    steps = min(steps, x.shape[0] // args.batch_size)
    if steps < 1:
        raise ValueError(f"the step-time comparison needs at least one full batch of {args.batch_size}, "
                         f"got {x.shape[0]} examples")
    batches = [slice(i * args.batch_size, (i + 1) * args.batch_size) for i in range(steps)]

    def zoo_block():
        for b in batches:
            svi.step(x[b])

    def ref_block():
        for b in batches:
            loss = loss_fn(flat[b], noise).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss.item()

    ratios = []
    with pyro.validation_enabled(False):  # as in zoo.fit
        zoo_block(), ref_block()  # warm-up
        for _ in range(rounds):
            times = {}
            for name, block in (("zoo", zoo_block), ("torch", ref_block)):
                start = time.perf_counter()
                block()
                times[name] = time.perf_counter() - start
            ratios.append(times["zoo"] / times["torch"])
    return ratios


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
    if args.step_rounds:
        ratios = step_ratios(vae, ref, train[: 20 * args.batch_size], args, rounds=args.step_rounds)
        result["step_time_ratio"] = {"median": statistics.median(ratios), "ratios": ratios}
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
        "paired_epoch_ratio_median": statistics.median(
            z["train_time_s"] / t["train_time_s"] for z, t in zip(rows["zoo"], rows["torch"])),
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
        f"784-{'-'.join(map(str, c['hidden']))}-{c['latent_dim']} tanh, {c['estimator']} (K={c.get('num_particles', 1)}), Adam lr {c['lr']}, "
        f"batch {c['batch_size']}, {c['epochs']} epochs, seed {c['seed']}; {result['date']}, "
        f"{result['machine']['cpus']} CPUs, torch {result['machine']['torch']}.\n",
        "| implementation | test -ELBO (nats) | median train time / epoch (s) |",
        "|---|---|---|",
    ]
    for k in ("zoo", "torch"):
        lines.append(f"| {k} | {result['final_test_neg_elbo'][k]:.2f} | {result['median_epoch_time_s'][k]:.3f} |")
    lines.append(f"\n-ELBO difference (zoo - torch): {result['neg_elbo_difference']:+.2f} nats")
    lines.append(f"\ntime ratio (zoo / torch): {result['time_ratio']:.3f} from median epoch times; "
                 f"{result['paired_epoch_ratio_median']:.3f} as the median of per-epoch ratios")
    if "step_time_ratio" in result:
        r = sorted(result["step_time_ratio"]["ratios"])
        lines.append(f"\nstep-time ratio (alternating blocks of up to 20 steps, {len(r)} rounds): median "
                     f"{result['step_time_ratio']['median']:.3f}, quartiles {r[len(r) // 4]:.3f}-{r[3 * len(r) // 4]:.3f}\n")
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
    p.add_argument("--estimator", default="elbo", choices=["elbo", "elbo-kl", "iwae"])
    p.add_argument("--num-particles", type=int, default=1, help="K (iwae only)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--step-rounds", type=int, default=30, help="rounds of the step-time comparison (0: skip)")
    p.add_argument("--out", default="bench/overhead")
    p.set_defaults(run=_run_cli)


def _run_cli(args) -> int:
    run(args)
    return 0
