r"""One GPU measurement, ready to run (``benchmarks/gpu_check.sh``): JSON + Markdown.

Measures, on one device:
  1. zoo's training step (``zoo.training.step``) against the hand-written PyTorch step
     (``benchmarks.reference``) at batch 20 and 100, for the ELBO and IWAE K = 50, on
     784-200-200-50; alternating blocks of steps, with device synchronization;
  2. steps per second of the hand-written step with and without ``torch.compile``;
  3. the importance-sampled log p(x), S = 5000, on the binarized-MNIST test set, and the
     point-by-point loop of pythae's ``get_nll`` on a subset of the same points;
  4. the peak GPU memory, and the GPU-hours that ``vaezoo bench paper --profile paper`` would
     take at the measured step times.

It needs only torch and pyro-ppl (no arviz, mlxtend or jsonargparse): run it with the project
on ``PYTHONPATH``. ``--quick`` shrinks every size, to check the script itself on a CPU.
"""
import argparse
import json
import math
import statistics
import time
from pathlib import Path

import torch

# vaezoo bench paper --profile paper: 3280 epochs of MNIST (60,000 images) at batch 20, per model
PAPER_EPOCHS, PAPER_TRAIN, PAPER_BATCH = 3280, 60000, 20
PAPER_PARTICLES = [1, 5, 50, 5, 50, 1, 1, 1]  # VAE k=1,5,50; IWAE k=5,50; planar 10, 20, 40 (one particle)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_times(device, estimator: str, k: int, batch: int, rounds: int, steps: int, x) -> dict:
    import zoo
    from benchmarks.reference import TorchVAE
    from zoo import training

    torch.manual_seed(0)
    vae = zoo.build("vae", data_shape=(1, 28, 28), hidden=(200, 200), latent_dim=50).to(device)
    est = zoo.estimators.get(estimator, num_particles=k)
    opt = training.make_optimizer("adam", vae.parameters(), lr=1e-3)
    ref = TorchVAE(784, (200, 200), 50).to(device)
    ref_opt = torch.optim.Adam(ref.parameters(), lr=1e-3)
    loss_fn = ref.objective(estimator, k)
    gen = torch.Generator(device=device).manual_seed(0)
    xb, flat = x[:batch].to(device), x[:batch].reshape(batch, -1).to(device)

    def zoo_block():
        for _ in range(steps):
            training.step(vae, est, opt, xb)

    def ref_block(fn=loss_fn):
        for _ in range(steps):
            loss = fn(flat, gen).sum()
            ref_opt.zero_grad()
            loss.backward()
            ref_opt.step()

    ms = {"zoo": [], "torch": []}
    import pyro
    with pyro.validation_enabled(False):
        for block in (zoo_block, ref_block):
            block()
        for _ in range(rounds):
            for name, block in (("zoo", zoo_block), ("torch", ref_block)):
                sync(device)
                start = time.perf_counter()
                block()
                sync(device)
                ms[name].append(1000 * (time.perf_counter() - start) / steps)
    out = {name: statistics.median(v) for name, v in ms.items()}
    out["ratio"] = statistics.median(z / t for z, t in zip(ms["zoo"], ms["torch"]))
    try:  # torch.compile of the hand-written loss (zoo's Pyro tracing is not compiled)
        compiled = torch.compile(loss_fn)
        ref_block(compiled)  # compile and warm up
        sync(device)
        start = time.perf_counter()
        ref_block(compiled)
        sync(device)
        out["torch_compiled"] = 1000 * (time.perf_counter() - start) / steps
    except Exception as e:  # noqa: BLE001 (recorded, not hidden)
        out["torch_compiled_error"] = f"{type(e).__name__}: {str(e)[:200]}"
    return out


def likelihood(device, x, num_samples: int, pointwise: int) -> dict:
    import zoo
    from benchmarks.studies.pointwise import pointwise_log_likelihood
    from zoo.evaluation import log_likelihood

    torch.manual_seed(0)
    vae = zoo.build("vae", data_shape=(1, 28, 28), hidden=(200, 200), latent_dim=50).to(device).eval()
    x = x.to(device)
    sync(device)
    start = time.perf_counter()
    r = log_likelihood(vae.model, vae.guide, x, num_samples=num_samples, batch_size=100, seed=0)
    sync(device)
    vectorized = time.perf_counter() - start
    sync(device)
    start = time.perf_counter()
    with torch.no_grad():
        pointwise_log_likelihood(vae, x[:pointwise], num_samples)
    sync(device)
    loop = time.perf_counter() - start
    return {"num_points": x.shape[0], "num_samples": num_samples, "log_px_mean": r.log_px.mean().item(),
            "vectorized_s": vectorized, "vectorized_ms_per_point": 1000 * vectorized / x.shape[0],
            "pointwise_points": pointwise, "pointwise_ms_per_point": 1000 * loop / pointwise,
            "speedup": (loop / pointwise) / (vectorized / x.shape[0])}


def projected_paper_hours(steps: dict) -> float:
    """GPU-hours of the paper profile: its step count per model times the measured batch-20 step
    time at K = 1 or K = 50, linear in K between them."""
    t1, t50 = steps["elbo_k1_b20"]["zoo"], steps["iwae_k50_b20"]["zoo"]
    per_step = [t1 + (t50 - t1) * (k - 1) / 49 for k in PAPER_PARTICLES]
    n_steps = PAPER_EPOCHS * math.ceil(PAPER_TRAIN / PAPER_BATCH)
    return n_steps * sum(per_step) / 1000 / 3600


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--data-root", default=".gpu/data")
    p.add_argument("--out", default="bench/gpu_check")
    p.add_argument("--quick", action="store_true", help="tiny sizes: check the script on a CPU")
    args = p.parse_args(argv)
    import zoo
    from zoo._utils.devices import check_device
    from zoo._utils.io import write_json, write_text

    device = check_device(args.device)
    ds = zoo.data.load("binarized-mnist", args.data_root)
    rounds, steps, S, n, pw = (3, 5, 50, 200, 5) if args.quick else (15, 20, 5000, ds.test.shape[0], 100)
    result = {"device": str(device), "torch": torch.__version__,
              "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None, "steps": {}}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for estimator, k in (("elbo", 1), ("iwae", 50)):
        for batch in (20, 100):
            key = f"{estimator}_k{k}_b{batch}"
            result["steps"][key] = step_times(device, estimator, k, batch, rounds, steps, ds.train)
            print(key, json.dumps(result["steps"][key]), flush=True)
    result["log_likelihood"] = likelihood(device, ds.test[:n], S, pw)
    print("log_likelihood", json.dumps(result["log_likelihood"]), flush=True)
    result["peak_gpu_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    result["paper_profile_gpu_hours"] = projected_paper_hours(result["steps"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "results.json", result)
    write_text(out / "report.md", report(result))
    print(report(result))
    return 0


def report(r: dict) -> str:
    rows = [f"| {k} | {v['zoo']:.3f} | {v['torch']:.3f} | {v['ratio']:.3f} | "
            f"{v.get('torch_compiled', float('nan')):.3f} | {1000 / v['torch']:.0f} |" for k, v in r["steps"].items()]
    ll = r["log_likelihood"]
    return "\n".join([
        f"# GPU check: {r['gpu'] or r['device']}, torch {r['torch']}", "",
        "| cell | zoo ms / step | torch ms / step | zoo / torch | torch compiled ms / step | torch steps / s |",
        "|---|---|---|---|---|---|", *rows, "",
        f"log p(x), S = {ll['num_samples']}, {ll['num_points']} test points: {ll['vectorized_s']:.1f} s "
        f"({ll['vectorized_ms_per_point']:.2f} ms per point); point by point on {ll['pointwise_points']}: "
        f"{ll['pointwise_ms_per_point']:.2f} ms per point ({ll['speedup']:.1f}x slower).", "",
        f"Peak GPU memory: {r['peak_gpu_memory_mb']} MB. Projected `vaezoo bench paper --profile paper`: "
        f"{r['paper_profile_gpu_hours']:.1f} GPU-hours (one model at a time).", ""])


if __name__ == "__main__":
    raise SystemExit(main())
