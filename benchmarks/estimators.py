"""Estimators suite: estimator x K on one dataset, same networks, same budget.

For each cell (estimator, K, options): train a fresh 784-200-200-50 VAE with ``zoo.fit``,
then report the test -ELBO, the test -log p(x) by importance sampling (S samples), the
model and guide gradient SNR on a fixed batch [Rainforth et al. 2018], and the training
time per epoch relative to the ``elbo`` cell. Cells are written to ``results.json`` as they
finish, and a finished cell is skipped when the command is run again.
"""
import argparse
import json
import os
import time
from pathlib import Path

import torch

CELLS = [("elbo", 1, {}), ("elbo-stl", 1, {}), ("elbo", 5, {}), ("iwae", 5, {}), ("iwae-dreg", 5, {}),
         ("iwae-stl", 5, {}), ("score", 5, {}), ("renyi", 5, {"alpha": 0.5}), ("ciwae", 5, {"beta": 0.5}),
         ("elbo", 50, {}), ("iwae", 50, {}), ("iwae-dreg", 50, {}), ("iwae-stl", 50, {}),
         ("renyi", 50, {"alpha": 0.5}), ("miwae", 10, {"num_groups": 5}), ("ciwae", 50, {"beta": 0.5})]


def cell_key(name, k, options) -> str:
    return f"{name}-K{k}" + "".join(f"-{a}{v}" for a, v in sorted(options.items()))


def run_cell(name, k, options, train, test, args) -> dict:
    import pyro
    import zoo
    from zoo.evaluate import elbo_and_kl, log_likelihood
    from zoo.gradients import gradient_stats

    pyro.clear_param_store()
    torch.manual_seed(args.seed)
    vae = zoo.build("vae", data_shape=tuple(train.shape[1:]), latent_dim=50, hidden=(200, 200))
    history = zoo.fit(vae, train, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                      estimator=name, num_particles=k, estimator_options=options, progress=False)
    vae.eval()
    ev = elbo_and_kl(vae, test)
    ll = log_likelihood(vae.model, vae.guide, test[: args.ll_size], num_samples=args.num_samples, seed=args.seed)
    vae.train()
    snr = gradient_stats(vae.model, vae.guide, test[: args.snr_batch], name, num_draws=args.snr_draws,
                         seed=args.seed, num_particles=k, **options)
    times = [h["train_time_s"] for h in history]
    return {"estimator": name, "num_particles": k, "options": options, "test_neg_elbo": -ev["elbo"],
            "test_kl": ev.get("kl"), "test_neg_ll": -ll.log_px.mean().item(), "ll_size": int(min(args.ll_size, len(test))),
            "num_samples": args.num_samples, "guide_snr": snr["guide"].snr, "model_snr": snr["model"].snr,
            "epoch_time_s": sorted(times)[len(times) // 2], "epochs": args.epochs}


def step_times(cells, x: torch.Tensor, rounds: int = 10, steps: int = 5, seed: int = 0) -> dict:
    """Median seconds per SVI step of each cell, measured in interleaved blocks of ``steps``
    (cell order rotated every round) so that all cells see the same machine state."""
    import pyro
    import zoo
    from pyro.infer import SVI
    from zoo.optim import module_optim

    svis = {}
    for name, k, options in cells:
        torch.manual_seed(seed)
        vae = zoo.build("vae", data_shape=tuple(x.shape[1:]), latent_dim=50, hidden=(200, 200))
        est = zoo.estimators.get(name, num_particles=k, **options)
        svis[cell_key(name, k, options)] = SVI(vae.model, vae.guide, module_optim("adam", vae, lr=1e-3), est)
    times = {key: [] for key in svis}
    keys = list(svis)
    with pyro.validation_enabled(False):
        for svi in svis.values():
            svi.step(x)  # warm-up
        for r in range(rounds):
            for key in keys[r % len(keys):] + keys[: r % len(keys)]:
                start = time.perf_counter()
                for _ in range(steps):
                    svis[key].step(x)
                times[key].append((time.perf_counter() - start) / steps)
    return {key: sorted(t)[len(t) // 2] for key, t in times.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="binarized-mnist")
    p.add_argument("--train-size", type=int, default=3000)
    p.add_argument("--test-size", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--num-samples", type=int, default=1000, help="S of the importance-sampled log p(x)")
    p.add_argument("--ll-size", type=int, default=200, help="test points for log p(x)")
    p.add_argument("--snr-batch", type=int, default=20)
    p.add_argument("--snr-draws", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="bench/estimators")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--timing-rounds", type=int, default=0,
                   help="only time the SVI steps of every cell, interleaved, for this many rounds")
    args = p.parse_args(argv)
    import zoo

    if args.threads:
        torch.set_num_threads(args.threads)

    ds = zoo.data.load(args.dataset, seed=args.seed)
    train, test = ds.train[: args.train_size], ds.test[: args.test_size]
    if args.timing_rounds:
        times = step_times(CELLS, train[: args.batch_size], rounds=args.timing_rounds, seed=args.seed)
        base = times[cell_key("elbo", 1, {})]
        for key, t in times.items():
            print(f"{key:24s} {1000 * t:8.1f} ms/step  {t / base:6.2f} x elbo-K1")
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    for name, k, options in CELLS:
        key = cell_key(name, k, options)
        if key in results:
            continue
        start = time.time()
        results[key] = run_cell(name, k, options, train, test, args)
        print(f"{key}: {results[key]} ({time.time() - start:.0f} s)", flush=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=2))
        os.replace(tmp, path)
    (out / "report.md").write_text(report(results, args))
    print(report(results, args))
    return 0


def report(results: dict, args) -> str:
    base = results.get(cell_key("elbo", 1, {}), {}).get("epoch_time_s")
    lines = [f"{args.dataset}: {args.train_size} train / {args.test_size} test, {args.epochs} epochs, "
             f"batch {args.batch_size}, Adam {args.lr}; -log p(x) with S={args.num_samples} on the first "
             f"{args.ll_size} test points; SNR over {args.snr_draws} draws on {args.snr_batch} test points.", "",
             "| estimator | K | test -ELBO | test -log p(x) | KL | guide SNR | model SNR | time/epoch vs elbo K=1 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results.values():
        opts = ", ".join(f"{a}={v}" for a, v in r["options"].items())
        name = r["estimator"] + (f" ({opts})" if opts else "")
        rel = f"{r['epoch_time_s'] / base:.2f}" if base else "-"
        lines.append(f"| {name} | {r['num_particles']} | {r['test_neg_elbo']:.2f} | {r['test_neg_ll']:.2f} | "
                     f"{r['test_kl']:.2f} | {r['guide_snr']:.3f} | {r['model_snr']:.3f} | {rel} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
