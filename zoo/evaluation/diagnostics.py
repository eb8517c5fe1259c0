r"""Diagnostics of an amortized posterior q(z|x): KL, active units, mutual information, PSIS k-hat.

    KL     = (1/N) sum_n KL(q(z|x_n) || p(z))
    A_d    = Cov_x(E_{q(z|x)}[z_d]);   unit d is active when A_d > 0.01                   [1]
    I_q    = (1/N) sum_n E_{q(z|x_n)}[log q(z|x_n) - log q(z)],  q(z) = (1/N) sum_m q(z|x_m)  [2, 3]
    k-hat  = shape of a generalized Pareto fit to the largest importance weights p(x, z) / q(z|x) [4, 5]

k-hat < 0.5: the weights have finite variance and importance sampling with q as proposal is
reliable; 0.5-0.7: finite mean, slower convergence; > 0.7: q is not a usable proposal [4].

References:
    [1] Burda, Grosse, Salakhutdinov. Importance Weighted Autoencoders. arXiv:1509.00519, sec. 5.2
    [2] Hoffman, Johnson. ELBO surgery: yet another way to carve up the variational evidence
        lower bound. NIPS Workshop on Advances in Approximate Bayesian Inference, 2016
    [3] He, Spokoyny, Neubig, Berg-Kirkpatrick. Lagging Inference Networks and Posterior Collapse
        in Variational Autoencoders. arXiv:1901.05534 (the estimator); Dieng, Kim, Rush, Blei.
        Avoiding Latent Variable Collapse with Generative Skip Models. arXiv:1807.04863
    [4] Yao, Vehtari, Simpson, Gelman. Yes, but Did It Work?: Evaluating Variational Inference.
        arXiv:1802.02538
    [5] Vehtari, Simpson, Gelman, Yao, Gabry. Pareto Smoothed Importance Sampling. arXiv:1507.02646
    [6] Poole, Ozair, van den Oord, Alemi, Tucker. On Variational Bounds of Mutual Information.
        arXiv:1905.06922
"""
import math
import warnings
from typing import Callable, Optional

import numpy as np
import torch

from zoo.evaluation.latent import batches, posterior_means

ACTIVE_THRESHOLD = 1e-2  # Burda et al. [1]: active when Cov_x(E_q[z_d]) > 10^-2
MIN_PSIS_SAMPLES = 25  # below this ArviZ's tail has fewer than 5 points and every k-hat is inf
KHAT_THRESHOLDS = (0.5, 0.7)  # Yao et al. [4]


@torch.no_grad()
def average_kl(kl: Callable, x: torch.Tensor, batch_size: int = 1000) -> Optional[float]:
    """Mean of ``kl(x_batch)`` (per-datapoint KL(q(z|x) || p(z)), e.g. ``VAE.kl``) over ``x``;
    ``None`` where ``kl`` raises ``NotImplementedError`` (a KL that is undefined)."""
    try:
        return sum(kl(xb).sum().item() for xb in batches(x, batch_size)) / x.shape[0]
    except NotImplementedError:
        return None


@torch.no_grad()
def unit_activity(encode: Callable, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    r"""A_d = Cov_x(E_{q(z|x)}[z_d]) for each latent dimension d: ``(latent_dim,)`` [1].

    The variance over the rows of ``x`` is the unbiased sample variance of the posterior means.
    """
    if x.shape[0] < 2:
        raise ValueError(f"unit activity is a variance over datapoints: x needs at least 2 rows, got {x.shape[0]}")
    return posterior_means(encode, x, batch_size).var(0)


def active_units(encode: Callable, x: torch.Tensor, threshold: float = ACTIVE_THRESHOLD,
                 batch_size: int = 1000) -> int:
    """The number of latent dimensions with ``unit_activity > threshold`` [1]."""
    return int((unit_activity(encode, x, batch_size) > threshold).sum())


@torch.no_grad()
def mutual_information(encode: Callable, x: torch.Tensor, batch_size: int = 500) -> float:
    r"""I_q(n; z) between the index n of a datapoint and its code z, with n uniform over ``x`` [2].

        I_q = (1/N) sum_n [log q(z_n|x_n) - log (1/N) sum_m q(z_n|x_m)],   z_n ~ q(z|x_n)

    One code per datapoint (the estimator of [3]). The aggregate posterior q(z) is exact for the
    empirical distribution of ``x``, so this is an unbiased Monte Carlo estimate of I_q(n; z) <= log N.
    Read as an estimate of I(x; z) for x from the data distribution it is the InfoNCE lower
    bound [6], whose bias vanishes as N grows. Cost: N^2 log-density evaluations, in blocks.

    Args:
        encode: maps a batch of data to q(z|x).
        x: data ``(N, ...)``, N >= 2.
        batch_size: rows per block of the N x N evaluation.

    Raises:
        NotImplementedError: q(z|x) cannot score codes drawn for other datapoints (normalizing
            flows without an inverse: planar, radial, Sylvester).
    """
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"mutual information needs at least 2 datapoints, got {n}")
    codes, log_q_own = [], []
    for xb in batches(x, batch_size):
        q = encode(xb)
        z = q.sample()
        codes.append(z)
        log_q_own.append(q.log_prob(z))
    z, log_q_own = torch.cat(codes), torch.cat(log_q_own)
    log_q_marginal = torch.full((n,), -math.inf, dtype=z.dtype, device=z.device)
    for xb in batches(x, batch_size):
        q = encode(xb)
        for start in range(0, n, batch_size):
            block = _cross_log_prob(q, z[start : start + batch_size])
            log_q_marginal[start : start + batch_size] = torch.logaddexp(
                log_q_marginal[start : start + batch_size], block.logsumexp(-1))
    return (log_q_own - log_q_marginal + math.log(n)).mean().item()


def _cross_log_prob(q, z: torch.Tensor) -> torch.Tensor:
    """log q(z_i | x_j) for every code i and every datapoint j of q's batch: ``(len(z), batch)``."""
    try:
        return q.log_prob(z.unsqueeze(-2))
    except (KeyError, NotImplementedError, RuntimeError) as e:
        raise NotImplementedError(
            f"q(z|x) ({type(q).__name__}) cannot score codes drawn for other datapoints, which the "
            f"aggregate posterior needs (flows without an inverse cannot): {e}"
        ) from e


def psis_khat(log_w: torch.Tensor) -> torch.Tensor:
    r"""PSIS Pareto k-hat of each row of importance log-weights, through ArviZ [4, 5].

    Args:
        log_w: ``(..., S)`` log-weights log p(x, z_s) - log q(z_s|x), S >= 25 (one fit per row).

    Returns:
        ``(...,)`` k-hat, float64. Where the largest weights tie, so that fewer than 5 exceed
        the tail cutoff (the exact posterior: every weight equals p(x)), the tail is bounded and
        k-hat is ``-inf``; ArviZ itself reports ``inf`` there ("no fit").
    """
    if not isinstance(log_w, torch.Tensor) or log_w.dim() == 0:
        raise ValueError(f"log_w must be a tensor of shape (..., S), got {log_w!r}")
    if log_w.shape[-1] < MIN_PSIS_SAMPLES:
        raise ValueError(f"PSIS k-hat needs at least {MIN_PSIS_SAMPLES} importance samples per "
                         f"datapoint, got {log_w.shape[-1]}")
    lw = log_w.detach().cpu().double().numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ warns about k > 0.7; we report the fraction instead
        _, k = require_arviz().psislw(lw.copy())  # 0.x: psislw takes log w itself (1.x: -log w)
    k = np.asarray(k, dtype=np.float64).copy()
    inf = np.isposinf(k)
    if inf.any():
        k[inf] = np.where(_tied_tail(lw[inf]), -np.inf, np.inf)
    return torch.from_numpy(k)


def _tied_tail(lw: np.ndarray) -> np.ndarray:
    """Rows where ArviZ finds at most 4 weights above its cutoff although it asked for more:
    the same cutoff as ArviZ's ``_psislw`` (sort, relative to the max, floored at log(tiny))."""
    s = lw.shape[-1]
    m = math.ceil(min(s / 5.0, 3 * math.sqrt(s)))
    rel = np.sort(lw, axis=-1) - lw.max(-1, keepdims=True)
    cutoff = rel[..., -m - 1]
    floor = np.log(np.finfo(float).tiny)
    return (cutoff > floor) & ((rel > cutoff[..., None]).sum(-1) <= 4)


def require_arviz():
    """ArviZ 0.x. The 1.x line changed ``psislw`` to take -log w; guessing the convention from
    the version could silently flip every k-hat, so 1.x is refused (setup.cfg pins ``arviz<1``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # 0.x announces its refactor on import
        import arviz
    if int(arviz.__version__.split(".")[0]) >= 1:
        raise ImportError(f"zoo.evaluation.diagnostics.psis_khat supports arviz 0.x (psislw takes log-weights); "
                          f"found arviz {arviz.__version__}: pip install 'arviz>=0.17,<1'")
    return arviz


def khat_summary(khat: torch.Tensor) -> dict:
    """Median and max k-hat (NaN ignored) and the fractions of datapoints above 0.5 and 0.7 [4]."""
    k = khat.double()
    finite = k[~torch.isnan(k)]
    out = {"khat_median": finite.median().item() if len(finite) else None,
           "khat_max": finite.max().item() if len(finite) else None}
    for t in KHAT_THRESHOLDS:
        out[f"khat_frac_above_{t}"] = (k > t).double().mean().item()
    return out
