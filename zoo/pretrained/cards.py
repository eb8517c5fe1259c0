r"""Model cards: how a pretrained model was made and what it scores, and the check that re-measures it.

A card (a JSON-ready dict, stored in the manifest) holds:

- ``model``: the model config (``vae.config``: ``zoo.models.from_config`` rebuilds the architecture);
- ``data``: the dataset, its binarization and split sizes (a ``zoo.data.DataSpec``);
- ``training``: estimator and K, optimizer, learning rate and schedule, batch size, epochs, seed;
- ``command``, ``commit``, ``date``, ``machine``, ``training_time_s``: provenance;
- ``test``: the numbers of ``vaezoo eval`` on the full test set: −log p(x) with S = 5000
  importance samples and its Monte Carlo standard error, −ELBO, KL, active units, the PSIS k̂
  summary (Yao et al. 2018; above 0.7 the importance-sampled estimate of that point is unreliable);
- ``check``: the ELBO (and −log p(x)) from a few hundred samples on about 500 test points spread
  through the split (every ``stride``-th): cheap enough for a test, which re-measures it with
  another seed.

Two independent estimates of the ELBO have the same expectation, so the check compares them within
their Monte Carlo errors, sqrt(se_1² + se_2²) (:func:`measure_check` says why the ELBO and not log
p(x)): a damaged or wrong weights file moves the ELBO by far more.
"""
import math
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Optional

import torch

from zoo._utils.contexts import evaluating, seeded
from zoo.data.spec import DataSpec
from zoo.estimators.weights import find_plates, log_weights

CHECK_POINTS = 500
CHECK_SAMPLES = 200
TEST_KEYS = {"log_likelihood": "neg_log_likelihood", "elbo": "neg_elbo"}  # eval.json -> card, negated


def check_points(spec: DataSpec, data_root: Optional[str] = None):
    """``(x, stride)``: every ``stride``-th test point of the spec's (fixed) test split, about
    ``CHECK_POINTS`` of them."""
    test = spec.fixed(spec.load(data_root).test)
    stride = max(1, math.ceil(test.shape[0] / CHECK_POINTS))
    return test[::stride], stride


@torch.no_grad()
def measure_check(model, spec: DataSpec, data_root: Optional[str] = None, seed: int = 0,
                  num_samples: int = CHECK_SAMPLES, batch_size: int = 100) -> dict:
    """The card's ``check`` block on the check points, from ``num_samples`` log-weights
    log w = log p(x, z) − log q(z|x), z ~ q(z|x), per point: the ELBO (their mean), its Monte Carlo
    standard error sqrt(sum_n Var_n(log w) / S) / N, and −log p(x) (their log-mean-exp).

    The comparison uses the ELBO: log w has a finite variance, so its standard error holds, while
    the importance-sampled log p(x) of a model whose weights are heavy-tailed (PSIS k̂ > 0.7) has an
    unreliable one and can differ between seeds by more than it says.
    """
    x, stride = check_points(spec, data_root)
    elbo, var, log_px = [], [], []
    with evaluating(model), seeded(seed):
        plates = find_plates(model.model, model.guide, (x[:1],), {})
        for xb in x.split(batch_size):
            log_w = log_weights(model.model, model.guide, xb, num_particles=num_samples, plates=plates).double()
            elbo.append(log_w.mean(0))
            var.append(log_w.var(0))
            log_px.append(torch.logsumexp(log_w, 0) - math.log(num_samples))
    elbo, var, log_px = torch.cat(elbo), torch.cat(var), torch.cat(log_px)
    n = x.shape[0]
    return {"stride": stride, "num_datapoints": n, "num_samples": num_samples, "seed": seed,
            "neg_elbo": -elbo.mean().item(), "stderr": (var.sum() / num_samples).sqrt().item() / n,
            "neg_log_likelihood": -log_px.mean().item()}


def agrees(card_check: dict, again: dict, z: float = 5.0, atol: float = 0.05) -> bool:
    """Whether two check measurements' ELBOs agree within ``z`` joint standard errors (plus ``atol`` nats)."""
    sigma = math.hypot(card_check["stderr"], again["stderr"])
    return abs(card_check["neg_elbo"] - again["neg_elbo"]) <= z * sigma + atol


def eval_numbers(result: dict) -> dict:
    """The card's ``test`` block from ``vaezoo eval``'s ``eval.json`` (``zoo.evaluation.report``)."""
    out = {"num_datapoints": result["num_datapoints"], "num_samples": result["num_samples"],
           "neg_log_likelihood": -result["log_likelihood"],
           "neg_log_likelihood_stderr": result["log_likelihood_stderr"], "neg_elbo": -result["elbo"]}
    out.update({k: result.get(k) for k in ("kl", "active_units", "latent_dim", "khat_median", "khat_frac_above_0.5",
                                           "khat_frac_above_0.7")})
    out["eval_time_s"] = result["log_likelihood_time_s"] + result["diagnostics_time_s"]
    return out


def provenance() -> dict:
    """The commit of the code (``-dirty`` with uncommitted changes to tracked files), the date and the machine."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no", "--", "."],
                               capture_output=True, text=True, check=True).stdout.strip()
        commit += "-dirty" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = None  # an installed package, not a checkout
    import pyro

    return {"commit": commit, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                        "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "pyro": pyro.__version__}}


def make_card(name: str, summary: str, command: str, model, data: dict, fit: dict, history: list, test: dict,
              check: dict) -> dict:
    """A card from what a finished run recorded (its config, ``data.json``, ``fit`` config and
    history) and the two measurements."""
    training = {k: fit[k] for k in ("estimator", "num_particles", "optimizer", "lr", "batch_size", "seed")}
    training.update(estimator_options=dict(fit["estimator_options"]), epochs=len(history),
                    schedule="constant learning rate", binarize_in_training=fit.get("binarize"))
    return {"name": name, "summary": summary, "model": dict(model.config), "data": {**data, "data_root": None},
            "training": training, "command": command, **provenance(),
            "training_time_s": sum(h.get("train_time_s", 0.0) for h in history),
            "parameters": sum(p.numel() for p in model.parameters()), "test": test, "check": check}


def _fmt(v, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def table(cards: list, sizes: dict) -> str:
    """The cards as one Markdown table (``docs/pretrained.md``)."""
    rows = ["| name | model | data | trained with | epochs | test −log p(x) | −ELBO | KL | active units | "
            "k̂ median / > 0.7 | training | MB |", "|" + "---|" * 12]
    for c in cards:
        t, tr, m = c["test"], c["training"], c["model"]
        k = "" if tr["num_particles"] == 1 else f", K = {tr['num_particles']}"
        guide = f" ({m['guide']})" if "guide" in m and m.get("model") in ("vae", "conv-vae") else ""
        au = "–" if t["active_units"] is None else f"{t['active_units']}/{t['latent_dim']}"
        khat = f"{_fmt(t['khat_median'])} / {_fmt(t['khat_frac_above_0.7'])}"
        rows.append(f"| `{c['name']}` | {m['model']}{guide} | {c['data']['dataset']} | {tr['estimator']}{k} | "
                    f"{tr['epochs']} | {t['neg_log_likelihood']:.2f} ± {t['neg_log_likelihood_stderr']:.2f} | "
                    f"{t['neg_elbo']:.2f} | {_fmt(t['kl'])} | {au} | {khat} | {c['training_time_s'] / 60:.0f} min | "
                    f"{sizes[c['name']] / 2**20:.1f} |")
    return "\n".join(rows)


__all__ = ["CHECK_POINTS", "CHECK_SAMPLES", "agrees", "check_points", "make_card", "measure_check", "provenance",
           "table", "eval_numbers"]
