r"""Pure kernels on importance log-weights, shaped ``(..., K)`` (particles last).

    log w_k = log p(x, z_k) - log q(z_k | x),   z_k ~ q(z | x)

    ELBO estimate       L_1 = (1/K) sum_k log w_k
    IWAE bound [1]      L_K = log (1/K) sum_k w_k      (E[L_K] increases with K to log p(x))
    normalized weights  w~_k = w_k / sum_j w_j
    effective sample size  ESS = (sum_k w_k)^2 / sum_k w_k^2 = 1 / sum_k w~_k^2      [2]
    Renyi bound [3]     L_alpha = 1/(1-alpha) log (1/K) sum_k w_k^(1-alpha)   (alpha = 0: IWAE)
    MIWAE [4]           (1/M) sum_m L_K(group m)        (M groups of K particles, last dim M*K)
    CIWAE [4]           beta L_1 + (1 - beta) L_K
    VIMCO baselines [5] L^{-k}: L_K with w_k replaced by the geometric mean of the others

Everything goes through log-sum-exp, so log-weights of order -1e4 are fine.

References:
    [1] Burda, Grosse, Salakhutdinov. Importance Weighted Autoencoders. arXiv:1509.00519
    [2] Kong. A note on importance sampling using standardized weights. 1992
    [3] Li, Turner. Renyi Divergence Variational Inference. arXiv:1602.02311
    [4] Rainforth, Kosiorek, Le, Maddison, Igl, Wood, Teh. Tighter Variational Bounds are
        Not Necessarily Better. arXiv:1802.04537
    [5] Mnih, Rezende. Variational Inference for Monte Carlo Objectives. arXiv:1602.06725
"""
import math

import torch

from zoo._utils.checks import positive_int


def _check(log_w: torch.Tensor) -> torch.Tensor:
    if not isinstance(log_w, torch.Tensor):
        raise TypeError(f"log_w must be a torch.Tensor, got {type(log_w).__name__}")
    if log_w.dim() == 0 or log_w.shape[-1] == 0:
        raise ValueError(f"log_w must have a non-empty last (particle) dimension, got shape {tuple(log_w.shape)}")
    return log_w


def elbo_bound(log_w: torch.Tensor) -> torch.Tensor:
    """Monte Carlo ELBO: the mean log-weight over the last dimension."""
    return _check(log_w).mean(-1)


def iwae_bound(log_w: torch.Tensor) -> torch.Tensor:
    """Importance-weighted bound L_K = logsumexp(log_w) - log K over the last dimension [1]."""
    return torch.logsumexp(_check(log_w), -1) - math.log(log_w.shape[-1])


def normalized_weights(log_w: torch.Tensor) -> torch.Tensor:
    """Self-normalized importance weights, summing to one over the last dimension."""
    return torch.softmax(_check(log_w), -1)


def effective_sample_size(log_sum_w: torch.Tensor, log_sum_w2: torch.Tensor) -> torch.Tensor:
    """Kish's effective sample size (sum_k w_k)^2 / sum_k w_k^2, between 1 and K [2], from
    ``log sum_k w_k`` and ``log sum_k w_k^2``: sums that can be kept over chunks of particles
    (``zoo.evaluation.likelihood``); for log-weights at hand, pass ``log_w.logsumexp(-1)`` and
    ``(2 * log_w).logsumexp(-1)``."""
    return torch.exp(2 * log_sum_w - log_sum_w2)


def renyi_bound(log_w: torch.Tensor, alpha: float) -> torch.Tensor:
    """Variational Renyi bound of order ``alpha`` != 1 over the last dimension [3].

    alpha = 0 is the IWAE bound; alpha -> 1 tends to the ELBO (use ``elbo_bound``).
    """
    alpha = check_alpha(alpha)
    return iwae_bound((1.0 - alpha) * _check(log_w)) / (1.0 - alpha)


def miwae_bound(log_w: torch.Tensor, num_groups: int) -> torch.Tensor:
    """MIWAE: the mean of ``num_groups`` IWAE bounds over consecutive groups of the last
    dimension, which must hold ``num_groups * K`` particles [4]."""
    positive_int("num_groups", num_groups)
    total = _check(log_w).shape[-1]
    if total % num_groups:
        raise ValueError(f"the last dimension ({total}) must be a multiple of num_groups={num_groups}")
    return iwae_bound(log_w.unflatten(-1, (num_groups, total // num_groups))).mean(-1)


def ciwae_bound(log_w: torch.Tensor, beta: float) -> torch.Tensor:
    """CIWAE: ``beta * ELBO + (1 - beta) * IWAE`` on the same particles (beta in [0, 1]) [4]."""
    beta = check_unit_interval("beta", beta)
    return beta * elbo_bound(log_w) + (1.0 - beta) * iwae_bound(log_w)


def check_alpha(alpha) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha):
        raise ValueError(f"alpha must be a finite number, got {alpha!r}")
    if alpha == 1:
        raise ValueError("alpha=1 makes the Renyi bound the ELBO, where its formula divides by zero; "
                         "use the 'elbo' estimator")
    return float(alpha)


def check_unit_interval(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def vimco_leave_one_out(log_w: torch.Tensor) -> torch.Tensor:
    r"""VIMCO's per-sample baselines [5]: L_K with w_k replaced by the geometric mean of the other
    K - 1 weights, for each k over the last dimension (K >= 2):

        L^{-k} = log (1/K) (sum_{j != k} w_j + exp((1/(K-1)) sum_{j != k} log w_j))
    """
    k = _check(log_w).shape[-1]
    if k < 2:
        raise ValueError(f"VIMCO's leave-one-out baseline needs K >= 2 particles, got {k}")
    others_mean = (log_w.sum(-1, keepdim=True) - log_w) / (k - 1)  # (..., K)
    # row k: the K log-weights with the k-th replaced by the mean of the others
    eye = torch.eye(k, dtype=torch.bool, device=log_w.device)
    rows = torch.where(eye, others_mean.unsqueeze(-1), log_w.unsqueeze(-2))
    return torch.logsumexp(rows, -1) - math.log(k)
