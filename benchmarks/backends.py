"""Where a suite's cells run: one after another in this process, or as Ray tasks.

``local`` runs the cells in order in this process. ``ray`` submits every unfinished cell as a
Ray task (``ray.init(address=...)``: a local Ray by default, or a cluster's address; fractional
``gpus_per_cell`` lets several small VAEs share one GPU) and hands each result to the driver as
it finishes, so only the driver writes ``results.json``. A cell's numbers depend only on its
config and the torch thread count, which the tasks set as the local backend does, so both
backends give the same numbers for the same cells.

Ray is an optional extra: ``pip install -e '.[ray]'``.
"""
import importlib
import time
from contextlib import contextmanager
from typing import Callable, List, Optional

import torch
from tqdm.auto import tqdm

from benchmarks.cell import Context, machine

BACKENDS = ("local", "ray")
OnResult = Callable[..., None]  # (config, result, seconds[, machine]): called as each cell finishes


def run_local(suite, todo: List[dict], context, threads: Optional[int], on_result: OnResult) -> None:
    with torch_threads(threads):
        for config in tqdm(todo, desc=f"{suite.NAME} cells", unit="cell", position=0, disable=not context.progress):
            start = time.perf_counter()
            result = suite.run_cell(config, context)
            on_result(config, result, time.perf_counter() - start)


def require_ray():
    try:
        import ray
    except ImportError:
        raise ValueError("--backend ray needs Ray, an optional extra: pip install -e '.[ray]'") from None
    return ray


def run_ray(suite, todo: List[dict], context, threads: Optional[int], on_result: OnResult,
            address: Optional[str] = None, gpus_per_cell: float = 0.0) -> None:
    """Every cell of ``todo`` as a Ray task; results reach ``on_result`` in the order they finish."""
    if gpus_per_cell < 0:
        raise ValueError(f"gpus_per_cell must be >= 0, got {gpus_per_cell}")
    ray = require_ray()
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1, num_gpus=gpus_per_cell)(_remote_cell)
        pending = {task.remote(suite.__name__, config, context.data_root, threads): config for config in todo}
        with tqdm(total=len(pending), desc=f"{suite.NAME} cells (ray)", unit="cell",
                  disable=not context.progress) as bar:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    config = pending.pop(ref)
                    result, seconds, machine = ray.get(ref)
                    on_result(config, result, seconds, machine)
                    bar.update(1)
    finally:
        if started:
            ray.shutdown()


def _remote_cell(module: str, config: dict, data_root: Optional[str], threads: Optional[int]):
    """One cell in a Ray worker: the suite imported by module name, the thread count set as locally;
    returns the result, its time and the machine it ran on (recorded, not the driver's)."""
    suite = importlib.import_module(module)
    with torch_threads(threads):
        start = time.perf_counter()
        result = suite.run_cell(config, Context(data_root=data_root, progress=False))
        seconds = time.perf_counter() - start
        return result, seconds, machine(config.get("device", "cpu"))


@contextmanager
def torch_threads(n: Optional[int]):
    """torch's intra-op threads set to ``n`` for the duration (``None``: left as they are)."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
