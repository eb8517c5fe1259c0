r"""Pure kernels on importance log-weights, shaped ``(..., K)`` (particles last).

    log w_k = log p(x, z_k) - log q(z_k | x),   z_k ~ q(z | x)

    ELBO estimate       L_1 = (1/K) sum_k log w_k
    IWAE bound [1]      L_K = log (1/K) sum_k w_k      (E[L_K] increases with K to log p(x))
    normalized weights  w~_k = w_k / sum_j w_j
    effective sample size  ESS = 1 / sum_k w~_k^2      [2]

Everything goes through log-sum-exp, so log-weights of order -1e4 are fine.

References:
    [1] Burda, Grosse, Salakhutdinov. Importance Weighted Autoencoders. arXiv:1509.00519
    [2] Kong. A note on importance sampling using standardized weights. 1992
"""
import math

import torch


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


def effective_sample_size(log_w: torch.Tensor) -> torch.Tensor:
    """Kish's effective sample size 1 / sum w~^2, between 1 and K [2]."""
    return normalized_weights(log_w).pow(2).sum(-1).reciprocal()
