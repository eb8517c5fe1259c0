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
import time
from typing import Optional

import torch

from zoo._utils.contexts import evaluating
from zoo._utils.provenance import git_state, machine, versions
from zoo.data.spec import DataSpec
from zoo.evaluation.likelihood import log_likelihood
from zoo.pretrained.store import MB

CHECK_POINTS = 500
CHECK_SAMPLES = 200


def fixed_test(spec: DataSpec, data_root: Optional[str] = None) -> torch.Tensor:
    """The spec's test split as evaluated (one fixed draw of it for dynamic binarization)."""
    return spec.fixed(spec.load(data_root).test)


def check_points(test: torch.Tensor):
    """``(x, stride)``: every ``stride``-th point of ``test``, about ``CHECK_POINTS`` of them."""
    stride = max(1, math.ceil(test.shape[0] / CHECK_POINTS))
    return test[::stride], stride


def measure_check(model, test: torch.Tensor, seed: int = 0, num_samples: int = CHECK_SAMPLES) -> dict:
    """The card's ``check`` block on the check points of ``test`` (``zoo.log_likelihood`` with
    ``num_samples`` draws): the ELBO with its Monte Carlo standard error, and −log p(x).

    The comparison (:func:`agrees`) uses the ELBO: log w has a finite variance, so its standard
    error holds, while the importance-sampled log p(x) of a model whose weights are heavy-tailed
    (PSIS k̂ > 0.7) has an unreliable one and can differ between seeds by more than it says.
    """
    x, stride = check_points(test)
    with evaluating(model):
        r = log_likelihood(model.model, model.guide, x, num_samples=num_samples, seed=seed).summary()
    return {"stride": stride, "num_datapoints": int(x.shape[0]), "num_samples": num_samples, "seed": seed,
            "neg_elbo": -r["elbo"], "stderr": r["elbo_stderr"], "neg_log_likelihood": -r["log_likelihood"]}


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
    """The commit of the code and whether it had uncommitted changes, the date, the package
    versions and the machine (``zoo._utils.provenance``, as benchmark records have them)."""
    git = git_state()
    return {"commit": git["commit"], "dirty": git["dirty"], "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "versions": versions(), "machine": machine("cpu")}


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
        what = [m["guide"]] if "guide" in m and m.get("model") in ("vae", "conv-vae") else []
        what += [f"prior {m['prior']}"] if m.get("prior") not in (None, "standard") else []
        detail = f" ({', '.join(what)})" if what else ""
        au = "–" if t["active_units"] is None else f"{t['active_units']}/{t['latent_dim']}"
        khat = f"{_fmt(t['khat_median'])} / {_fmt(t['khat_frac_above_0.7'])}"
        se = format_stderr(t["neg_log_likelihood_stderr"])
        rows.append(f"| `{c['name']}` | {m['model']}{detail} | {c['data']['dataset']} | {tr['estimator']}{k} | "
                    f"{tr['epochs']} | {t['neg_log_likelihood']:.2f} ± {se} | "
                    f"{t['neg_elbo']:.2f} | {_fmt(t['kl'])} | {au} | {khat} | {_duration(c['training_time_s'])} | "
                    f"{sizes[c['name']] / MB:.2f} |")
    return "\n".join(rows)


def format_stderr(se: float) -> str:
    """A standard error to two decimals, "< 0.01" where that would print 0.00."""
    return "< 0.01" if se < 0.005 else f"{se:.2f}"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


__all__ = ["CHECK_POINTS", "CHECK_SAMPLES", "agrees", "check_points", "eval_numbers", "fixed_test", "format_stderr",
           "make_card", "measure_check", "provenance", "table"]
