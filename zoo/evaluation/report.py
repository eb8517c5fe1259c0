r"""``evaluate``: every number ``vaezoo eval`` writes to ``eval.json``: the importance-sampled
log-likelihood (``zoo.evaluation.likelihood``), KL, active units (per latent layer where a model
has several: ``layer_encoders()``) and mutual information (``zoo.evaluation.diagnostics``).
"""
import contextlib
import math
import time

import pyro
import torch

from zoo._utils.contexts import evaluating, seeded
from zoo.evaluation.diagnostics import (
    ACTIVE_THRESHOLD,
    average_kl,
    mutual_information,
    require_arviz,
    unit_activity,
)
from zoo.evaluation.likelihood import log_likelihood
from zoo.evaluation.parts import BatchParts, fingerprint


def evaluate(vae, x: torch.Tensor, num_samples: int = 5000, batch_size: int = 100, chunk_size: int = 20,
             seed: int = 0, progress: bool = True, parts_dir=None) -> dict:
    """Log-likelihood (with standard error, ESS, PSIS k-hat), KL, active units and mutual
    information of a VAE on data ``x``: the content of ``eval.json``.

    With ``parts_dir``, the log-likelihood's finished batches are kept there
    (:class:`zoo.evaluation.parts.BatchParts`): a run that was interrupted goes on from them and
    gives the numbers of an uninterrupted one; the caller removes the folder once the result is
    saved. ``log_likelihood_time_s`` then adds the saved compute time of the batches read back
    (``log_likelihood_points_resumed`` points) to this run's.

    Returns:
        A JSON-ready dict: the :meth:`LogLikelihood.summary` keys, ``kl`` (``None`` where
        undefined), ``active_units``, ``active_threshold``, ``unit_activity`` (per dimension),
        ``latent_dim`` (all layers; with several, also ``latent_dims`` and ``active_units_per_layer``),
        ``mutual_information`` (``None`` with ``mutual_information_note`` where q
        cannot score other datapoints' codes), ``num_datapoints``, ``num_samples``, ``seed``,
        timings in seconds, and ``per_datapoint`` lists (``log_likelihood``, ``stderr``, ``ess``,
        ``elbo``, ``khat``; non-finite values as ``None``).
    """
    from zoo.models.autoencoder import Autoencoder

    if isinstance(vae, Autoencoder):
        raise ValueError("the autoencoder has a flat improper prior, so p(x) is not normalized: there is no "
                         "log-likelihood to estimate; evaluate a VAE")
    with pyro.validation_enabled(True):
        vae.check_input(x)
    with evaluating(vae), pyro.validation_enabled(False):  # x is checked once above
        saved = contextlib.nullcontext() if parts_dir is None else BatchParts(parts_dir, fingerprint(
            vae, x, num_samples=num_samples, batch_size=batch_size, chunk_size=chunk_size, seed=seed))
        with saved as parts:
            return _evaluate(vae, x, num_samples, batch_size, chunk_size, seed, progress, parts)


def _evaluate(vae, x, num_samples, batch_size, chunk_size, seed, progress, parts) -> dict:
    require_arviz()  # its import (seconds) stays out of the timing
    start = time.perf_counter()
    ll = log_likelihood(vae.model, vae.guide, x, num_samples=num_samples, batch_size=batch_size,
                        chunk_size=chunk_size, seed=seed, psis=True, progress=progress, parts=parts)
    seconds_back, points_back = (0.0, 0) if parts is None else (parts.seconds_read_back, parts.points_read_back)
    out = {"num_datapoints": x.shape[0], "num_samples": num_samples, "seed": seed, **ll.summary(),
           "log_likelihood_time_s": time.perf_counter() - start + seconds_back,
           "log_likelihood_points_resumed": points_back}
    start = time.perf_counter()
    with seeded(seed, x.device):  # flows draw for E_q[z] and a Monte Carlo KL; MI draws one code per point
        layers = [unit_activity(encode, x) for encode in _layer_encoders(vae)]
        out.update(_mutual_information(vae, x), kl=average_kl(vae.kl, x))
    activity = torch.cat(layers)
    out.update(latent_dim=len(activity), active_threshold=ACTIVE_THRESHOLD,
               active_units=int((activity > ACTIVE_THRESHOLD).sum()), unit_activity=activity.tolist(),
               diagnostics_time_s=time.perf_counter() - start)
    if len(layers) > 1:  # Burda et al.'s active units per layer, bottom first
        out.update(latent_dims=[len(a) for a in layers],
                   active_units_per_layer=[int((a > ACTIVE_THRESHOLD).sum()) for a in layers])
    out["per_datapoint"] = {name: _json_list(t) for name, t in (
        ("log_likelihood", ll.log_px), ("stderr", ll.stderr), ("ess", ll.ess), ("elbo", ll.elbo), ("khat", ll.khat))}
    return {k: _json_value(v) for k, v in out.items()}


def _layer_encoders(vae) -> list:
    """q(z_l|x) for each latent layer (``layer_encoders()``), else the model's one ``encode``."""
    return vae.layer_encoders() if hasattr(vae, "layer_encoders") else [vae.encode]


def _mutual_information(vae, x) -> dict:
    try:
        return {"mutual_information": mutual_information(vae.encode, x), "mutual_information_max": math.log(len(x))}
    except NotImplementedError as e:
        return {"mutual_information": None, "mutual_information_note": str(e).split(":")[0]}


def _json_value(v):
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _json_list(t: torch.Tensor) -> list:
    return [round(v, 6) if math.isfinite(v) else None for v in t.double().tolist()]
