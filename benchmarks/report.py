r"""Reports of benchmark records: mean ± standard deviation over seeds, markdown tables, PNG plots.

Records of cells that differ only in their seed are one row; each number is

    mean = (1/n) sum_i v_i,    std = sqrt( sum_i (v_i - mean)^2 / (n - 1) )

over the n seeds (the sample standard deviation; shown only for n >= 2). Figures use
``matplotlib.figure.Figure`` on its Agg canvas, never ``pyplot`` (as in :mod:`zoo.plots.images`).
"""
import json
import math
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, MaxNLocator, NullFormatter, ScalarFormatter

from zoo._utils.io import save_figure

DPI = 100
DASH = "–"


def mean_std(values: Sequence[Optional[float]]) -> Tuple[Optional[float], Optional[float], int]:
    """(mean, sample std or None if n < 2, n) of the finite values; (None, None, 0) if there are none."""
    v = [float(x) for x in values if x is not None and math.isfinite(x)]
    n = len(v)
    if n == 0:
        return None, None, 0
    mean = sum(v) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in v) / (n - 1)) if n > 1 else None
    return mean, std, n


def fmt(stats: Tuple[Optional[float], Optional[float], int], spec: str = ".2f") -> str:
    """``mean ± std`` in the format ``spec`` (``mean`` for one seed, a dash for none)."""
    mean, std, _ = stats
    if mean is None:
        return DASH
    return f"{mean:{spec}}" if std is None else f"{mean:{spec}} ± {std:{spec}}"


def without_seed(config: dict) -> str:
    return json.dumps({k: v for k, v in config.items() if k != "seed"}, sort_keys=True)


def by_cell(records: Sequence[dict]) -> List[List[dict]]:
    """Records grouped by config apart from the seed, in order of first appearance."""
    groups: Dict[str, List[dict]] = {}
    for r in records:
        groups.setdefault(without_seed(r["config"]), []).append(r)
    return list(groups.values())


def aggregate(group: Sequence[dict], metric: Callable[[dict], Optional[float]], spec: str = ".2f") -> str:
    """``mean ± std`` of ``metric(record["result"])`` over the records of one group."""
    return fmt(mean_std([metric(r["result"]) for r in group]), spec)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def header(title: str, settings: dict, records: Sequence[dict]) -> str:
    """Title, the command that reproduces the report, the profile, and where and when it ran."""
    seeds = sorted({r["seed"] for r in records})
    first = records[0] if records else {}
    m, v = first.get("machine", {}), first.get("versions", {})
    dates = sorted(r["date"] for r in records)
    commits = sorted({f"{r['git_commit'] or 'unknown'}{' (uncommitted changes)' if r.get('git_dirty') else ''}"
                      for r in records})
    gpu = f", {m['gpu']}" if m.get("gpu") else ""
    lines = [f"# {title}\n", "Reproduce with:\n", f"```\n{settings['command']}\n```\n",
             f"Profile `{settings['profile']}`: {settings.get('description', '')}\n"]
    if records:
        lines += [f"Mean ± sample standard deviation over {len(seeds)} seed(s) {seeds}; "
                  f"{len(records)} cells. Ran {dates[0]} to {dates[-1]} (UTC) on {m.get('platform')}, "
                  f"{m.get('cpus')} CPUs, {m.get('threads')} torch thread(s), device {m.get('device')}{gpu}; "
                  f"torch {v.get('torch')}, pyro {v.get('pyro')}, zoo {v.get('zoo')}; git {', '.join(commits)}.\n"]
    return "\n".join(lines) + "\n"


def _figure(ncols: int) -> Figure:
    return Figure(figsize=(5.5 * ncols, 4.2), dpi=DPI)


def plot_panels(path, panels: Sequence[dict], title: str) -> Path:
    """Line plots side by side. Each panel: ``{"series": {label: (xs, ys)}, "xlabel", "ylabel",
    "title", "logx", "logy"}``; a ``None`` in ``ys`` leaves a gap."""
    fig = _figure(len(panels))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels):
        for label, (xs, ys) in panel["series"].items():
            ax.plot(xs, [math.nan if y is None else y for y in ys], marker="o", ms=3, label=label)
        ax.set(xlabel=panel["xlabel"], ylabel=panel["ylabel"], title=panel.get("title", ""))
        if panel.get("logx"):  # ticks at the measured x (e.g. K = 1, 5, 50), written plainly
            ax.set_xscale("log")
            ax.set_xticks(sorted({x for xs, _ in panel["series"].values() for x in xs}))
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if panel.get("logy"):  # 1-2-5 ticks: SNRs often span less than a decade
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        if panel["series"]:
            ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path, DPI)


def mean_curve(group: Sequence[dict], key: str, sign: float = 1.0) -> Tuple[List[int], List[Optional[float]]]:
    """Epochs and the mean over seeds of ``sign * history[key]`` (records' ``result["history"]``)."""
    histories = [r["result"]["history"] for r in group]
    epochs = [h["epoch"] for h in histories[0]]
    ys = []
    for i in range(len(epochs)):
        mean = mean_std([h[i].get(key) for h in histories if i < len(h) and h[i].get(key) is not None])[0]
        ys.append(None if mean is None else sign * mean)
    return epochs, ys


def bound_panels(groups: Sequence[Sequence[dict]], label: Callable[[dict], str]) -> List[dict]:
    """Panels for bound vs epoch: the training objective and the test ELBO, negated (nats)."""
    series = lambda key, sign: {label(g[0]["config"]): mean_curve(g, key, sign) for g in groups}  # noqa: E731
    return [{"series": series("loss", 1.0), "xlabel": "epoch", "ylabel": "nats per datapoint",
             "title": "training loss: the negative bound trained on"},
            {"series": series("test_elbo", -1.0), "xlabel": "epoch", "ylabel": "nats per datapoint",
             "title": "test -ELBO"}]
