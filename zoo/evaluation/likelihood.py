r"""Bounds of trained models: ELBO and KL, and the importance-sampled log-likelihood
(``zoo.evaluation.report.evaluate`` gathers them with the diagnostics into ``eval.json``).

    ELBO(x)   = E_q[log p(x, z) - log q(z|x)]            (``elbo_and_kl``, ``num_particles`` draws)
    KL(x)     = KL(q(z|x) || p(z))                       (closed form where registered)
    log p(x) ~= log (1/S) sum_s w_s,   w_s = p(x, z_s) / q(z_s|x),   z_s ~ q(z|x)          [1]

The log-likelihood estimate is the IWAE bound L_S [1]: it tends to log p(x) as S grows and,
by Jensen, lies below it by about Var(w) / (2 S p(x)^2). S = 5000 is the value of [1, sec. 5].
Its Monte Carlo standard error, by the delta method, is

    se = sd(w) / (sqrt(S) mean(w)) = sqrt((S / ESS - 1) / (S - 1)),   ESS = (sum w)^2 / sum w^2   [2]

which is trustworthy only where the weights have finite variance: PSIS k-hat < 0.5 [3].

References:
    [1] Burda, Grosse, Salakhutdinov. Importance Weighted Autoencoders. arXiv:1509.00519
    [2] Kong. A note on importance sampling using standardized weights. 1992
    [3] Yao, Vehtari, Simpson, Gelman. Yes, but Did It Work?: Evaluating Variational Inference.
        arXiv:1802.02538
"""
import math
import time
from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np
import torch
from pyro import poutine
from tqdm.auto import tqdm

from zoo._utils.checks import positive_int
from zoo._utils.contexts import evaluating, seeded
from zoo.estimators.bounds import effective_sample_size
from zoo.estimators.weights import (
    find_plates,
    in_plates,
    latents,
    log_density,
    log_weights,
    refuse_scaled,
    replay_model,
    vectorize,
)
from zoo.evaluation.diagnostics import khat_summary, psis_khat
from zoo.evaluation.latent import batches

DRAW_BLOCK = 100  # particles per guide call; block k of a batch is drawn under its own seed


@torch.no_grad()
def elbo_and_kl(vae, x: torch.Tensor, batch_size: int = 1000, num_particles: int = 1) -> Dict[str, float]:
    """Dataset means of the ELBO and of KL(q(z|x) || p(z)), in nats per datapoint.

    The model is put in eval mode for the duration and restored afterwards.
    """
    with evaluating(vae):
        elbo_sum, kl_sum, plates = 0.0, 0.0, None
        for xb in batches(x, batch_size):
            plates = plates or find_plates(vae.model, vae.guide, (xb,), {})  # one unvectorized run, not one a batch
            log_w = log_weights(vae.model, vae.guide, xb, num_particles=num_particles, plates=plates)
            elbo_sum += log_w.mean(0).sum().item()
            kl_sum = _add_kl(vae, xb, kl_sum)
    n = x.shape[0]
    return {"elbo": elbo_sum / n} if kl_sum is None else {"elbo": elbo_sum / n, "kl": kl_sum / n}


def _add_kl(vae, x, total):
    """Running KL sum; ``None`` for models whose KL is undefined (e.g. the autoencoder's
    point mass against a flat prior), which then report no KL at all."""
    if total is None:
        return None
    try:
        return total + vae.kl(x).sum().item()
    except NotImplementedError:
        return None


# ---- importance-sampled log-likelihood -------------------------------------------------------


@dataclass(frozen=True)
class LogLikelihood:
    """Per-datapoint importance-sampling results, each a tensor of shape ``(N,)``.

    Attributes:
        log_px: log (1/S) sum_s w_s, the estimate of log p(x).
        stderr: its delta-method Monte Carlo standard error (NaN when S = 1).
        ess: Kish's effective sample size (sum w)^2 / sum w^2 of the S weights, in [1, S].
        elbo: (1/S) sum_s log w_s, an S-sample estimate of the ELBO.
        elbo_stderr: its Monte Carlo standard error, sqrt(Var_s(log w_s) / S) (NaN when S = 1). Unlike
            ``stderr``, it holds when the weights are heavy-tailed (PSIS k-hat > 0.7), for log w has a
            finite variance where w may not.
        khat: PSIS k-hat of the S weights (``psis=True``), else ``None``.
        num_samples: S.
    """

    log_px: torch.Tensor
    stderr: torch.Tensor
    ess: torch.Tensor
    elbo: torch.Tensor
    elbo_stderr: torch.Tensor
    khat: Optional[torch.Tensor]
    num_samples: int

    def summary(self) -> Dict[str, float]:
        """Dataset means, in nats per datapoint; ``log_likelihood_stderr`` is the Monte Carlo
        error of the mean, sqrt(sum_n se_n^2) / N (``elbo_stderr`` likewise), and ``log_likelihood_sd`` the
        spread over datapoints."""
        n = self.log_px.shape[0]
        log_px = self.log_px.double()  # float32 means over 10^4 points of ~-100 lose digits
        out = {"log_likelihood": log_px.mean().item(),
               "log_likelihood_stderr": self.stderr.double().pow(2).sum().sqrt().item() / n,
               "log_likelihood_sd": log_px.std().item() if n > 1 else 0.0,
               "elbo": self.elbo.double().mean().item(),
               "elbo_stderr": self.elbo_stderr.double().pow(2).sum().sqrt().item() / n,
               "ess_mean": self.ess.mean().item(), "ess_median": self.ess.median().item(),
               "ess_min": self.ess.min().item()}
        out["posterior_gap"] = out["log_likelihood"] - out["elbo"]  # ~ E KL(q(z|x) || p(z|x))
        return {**out, **(khat_summary(self.khat) if self.khat is not None else {})}


@torch.no_grad()
def log_likelihood(model, guide, *args, num_samples: int = 5000, batch_size: int = 100, chunk_size: int = 20,
                   seed: int = 0, psis: bool = False, progress: bool = False, data_plate: Optional[str] = None,
                   parts=None, **kwargs) -> LogLikelihood:
    r"""Importance-sampled log p(x) per datapoint, log (1/S) sum_s p(x, z_s) / q(z_s|x), z_s ~ q [1].

    Works for any Pyro model/guide pair whose sample sites sit in one data plate, called as
    ``model(*args, **kwargs)`` (several latent sites, inner plates, the data plate at any dim,
    more arguments than the data: ``zoo.estimators.weights``); particles are vectorized at a dim
    left of the deepest plate. The datapoints are taken ``batch_size`` at a time: every tensor
    argument whose first dim is the first tensor argument's (the data's N) is cut into batches,
    the others are passed whole. Memory stays bounded whatever S: the guide draws
    ``DRAW_BLOCK`` particles per call and the model scores ``chunk_size`` at a time, folded into
    running log-sum-exps (with ``psis``, the S log-weights of one batch are kept for the k-hat
    fits).

    Randomness: block k of ``DRAW_BLOCK`` particles of the batch starting at row i is drawn
    under a torch seed derived from ``(seed, i, k)``, so the result depends on ``seed`` and
    ``batch_size`` but not on ``chunk_size``, and the global RNG state is left untouched. Hence
    batches can be saved as they finish and a run resumed from them (``parts``) with the numbers of
    an uninterrupted one.

    Args:
        model, guide: the Pyro pair (in the mode you want evaluated: call ``.eval()`` first).
        *args, **kwargs: what model and guide take, the data first (``x``, or ``x, mask, ...``).
        num_samples: S, importance samples per datapoint (5000 in [1]).
        batch_size: datapoints per vectorized call.
        chunk_size: particles per model call.
        seed: non-negative integer seed.
        psis: also fit PSIS k-hat per datapoint (needs S >= 25).
        progress: show a tqdm bar.
        data_plate: the data plate's name (default: the outermost plate of the observed site).
        parts: a :class:`zoo.evaluation.parts.BatchParts` (entered): finished batches are read from
            it instead of computed, and each new one is saved to it.

    Returns:
        A :class:`LogLikelihood`.
    """
    for name, value in (("num_samples", num_samples), ("batch_size", batch_size), ("chunk_size", chunk_size)):
        positive_int(name, value)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    n, batches = data_batches(args, kwargs, batch_size)
    done, plates = [], None
    with tqdm(total=n, unit="pt", desc=f"log p(x), S={num_samples}", disable=not progress) as bar:
        for start, args_b, kwargs_b in batches:
            saved = parts.load(start) if parts is not None else None
            if saved is None:
                began = time.perf_counter()
                plates = plates or find_plates(model, guide, args_b, kwargs_b, data_plate)
                saved = _batch_estimate(model, guide, args_b, kwargs_b, plates, num_samples, chunk_size,
                                        (seed, start), psis)
                if parts is not None:
                    parts.save(start, saved, seconds=time.perf_counter() - began)
            done.append(saved)
            bar.update(saved[0].shape[0])
    device = _device(args, kwargs)  # saved batches are read onto the CPU
    log_px, stderr, ess, elbo, elbo_stderr, khat = (torch.cat([t.to(device) for t in p]) if p[0] is not None else None
                                                    for p in zip(*done))
    return LogLikelihood(log_px, stderr, ess, elbo, elbo_stderr, khat, num_samples)


def data_batches(args, kwargs, batch_size: int):
    """``(N, [(start, args, kwargs), ...])``: every tensor argument whose first dim is N (the first
    tensor argument's) cut into slices of ``batch_size`` rows, the others passed whole."""
    first = next((a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor) and a.dim() > 0), None)
    if first is None:
        raise ValueError("model and guide take no tensor argument with a first dim of datapoints: nothing to "
                         "estimate log p(x) for")
    n = first.shape[0]

    def cut(a, s):
        return a[s : s + batch_size] if isinstance(a, torch.Tensor) and a.dim() > 0 and a.shape[0] == n else a

    return n, [(s, tuple(cut(a, s) for a in args), {k: cut(v, s) for k, v in kwargs.items()})
               for s in range(0, n, batch_size)]


def _batch_estimate(model, guide, args, kwargs, plates, num_samples, chunk_size, key, psis):
    """(log_px, stderr, ess, elbo, elbo_stderr, khat) of one batch, from running sums over chunks of particles."""
    lse, lse2, total, total2, done, kept = None, None, 0.0, 0.0, 0, None
    for values, log_q, where in _rechunk(_guide_blocks(guide, args, kwargs, plates, num_samples, key), chunk_size):
        log_w = _log_weights(model, args, kwargs, values, log_q, where)
        if kept is None:
            # One buffer for the kept log-weights: a list of small chunks, each allocated between the
            # decoder's large temporaries, fragmented the heap (1.4 GB of RSS for S = 5000).
            kept = log_w.new_empty(num_samples if psis else 0, log_w.shape[1])
        lse = _logaddexp(lse, log_w.logsumexp(0))
        lse2 = _logaddexp(lse2, (2 * log_w).logsumexp(0))
        total = total + log_w.double().sum(0)  # float64: Var(log w) is a difference of large sums
        total2 = total2 + log_w.double().pow(2).sum(0)
        if psis:
            kept[done : done + log_w.shape[0]] = log_w
        done += log_w.shape[0]
    s = num_samples
    ess = effective_sample_size(lse, lse2)
    stderr = ((s / ess - 1).clamp(min=0) / (s - 1)).sqrt() if s > 1 else torch.full_like(lse, math.nan)
    khat = psis_khat(kept.T) if psis else None
    mean = total / s
    var = ((total2 - s * mean.pow(2)) / (s - 1)).clamp(min=0) if s > 1 else torch.full_like(mean, math.nan)
    elbo_stderr = (var / s).sqrt().to(lse.dtype)
    return lse - math.log(s), stderr, ess, mean.to(lse.dtype), elbo_stderr, khat


def _logaddexp(a: Optional[torch.Tensor], b: torch.Tensor) -> torch.Tensor:
    return b if a is None else torch.logaddexp(a, b)


def _device(args, kwargs) -> Optional[torch.device]:
    return next((a.device for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)), None)


def _guide_blocks(guide, args, kwargs, plates, num_samples, key):
    """Yield ``(latent values, log q, where)`` for blocks of ``DRAW_BLOCK`` particles, each under its own seed."""
    device = _device(args, kwargs)
    for k, start in enumerate(range(0, num_samples, DRAW_BLOCK)):
        size = min(DRAW_BLOCK, num_samples - start)
        with seeded(_block_seed(*key, k), device):
            trace = poutine.trace(vectorize(guide, size, plates.particle_dim)).get_trace(*args, **kwargs)
        where = in_plates(trace, plates)
        refuse_scaled(where._replace(guide=trace, model=poutine.Trace()))
        block = latents(trace), log_density(trace, where).expand(size, where.size), where
        del trace  # its distributions hold flow steps' caches: not alive while the next block is drawn
        yield block


def _block_seed(seed: int, start: int, block: int) -> int:
    return int(np.random.SeedSequence((seed, start, block)).generate_state(1, np.uint64)[0])


def _rechunk(blocks, size: int):
    """Re-cut a stream of ``(values, log_q, where)`` particle blocks (dim 0) into pieces of ``size``."""
    held, count = [], 0
    for block in blocks:
        held.append(block)
        count += block[1].shape[0]
        while count >= size:
            values, log_q, where = _cat(held)
            yield {k: v[:size] for k, v in values.items()}, log_q[:size], where
            count -= size
            held = [({k: v[size:] for k, v in values.items()}, log_q[size:], where)] if count else []
    if count:
        yield _cat(held)


def _cat(blocks):
    if len(blocks) == 1:
        return blocks[0]
    values = {k: torch.cat([b[0][k] for b in blocks]) for k in blocks[0][0]}
    return values, torch.cat([b[1] for b in blocks]), blocks[0][2]


def _log_weights(model, args, kwargs, values, log_q, where) -> torch.Tensor:
    """log p(x, z) - log q(z|x) of one chunk, ``(chunk, N)``, the model replayed on the guide's values."""
    size = log_q.shape[0]
    trace = replay_model(model, values, args, kwargs, size, where.particle_dim)
    refuse_scaled(where._replace(guide=poutine.Trace(), model=trace))
    return log_density(trace, where).expand(size, where.size) - log_q


# ---- everything vaezoo eval reports ----------------------------------------------------------
