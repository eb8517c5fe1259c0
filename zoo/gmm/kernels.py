r"""Pure tensor kernels of EM for Gaussian mixtures: no state, no Pyro, all log densities.

The mixture  p(x) = sum_k pi_k N(x | mu_k, Sigma_k)  is held, as in scikit-learn [3], through
the Cholesky factors of the precisions: U_k upper triangular with Sigma_k^{-1} = U_k U_k^T, so

    log N(x | mu_k, Sigma_k) = -d/2 log(2 pi) + sum_j log (U_k)_jj - 1/2 ||(x - mu_k)^T U_k||^2.

Shapes of ``precisions_cholesky`` (and of the covariances) by covariance type:
"full" (K, d, d), "tied" (d, d), "diag" (K, d), "spherical" (K,).

E-step [1, 2]:  r_ik = pi_k N(x_i | mu_k, Sigma_k) / sum_j pi_j N(x_i | mu_j, Sigma_j).
M-step [1, 2]:  n_k = sum_i r_ik,  pi_k = n_k / sum_j n_j,  mu_k = sum_i r_ik x_i / n_k,
                Sigma_k = sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T / n_k + reg_covar I.

The E-step and the M-step each make one pass over blocks of rows that stay in cache; for
full covariances each block takes one matrix product against all K components at once.
The second moments are accumulated about the data mean, so their rounding error is
~eps |mu_k - mean(x)|^2 / sigma_k^2 relative (not ~eps |mu_k|^2 / sigma_k^2).

References:
    [1] Dempster, Laird, Rubin. Maximum likelihood from incomplete data via the EM
        algorithm. JRSS B 1977
    [2] Bishop. Pattern Recognition and Machine Learning, Sec. 9.2. Springer 2006
    [3] scikit-learn, sklearn/mixture/_gaussian_mixture.py (parametrization, tied/diag/
        spherical M-steps, the 10 eps added to n_k)
"""
import math
from typing import Optional, Tuple

import torch

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
# Elements of one (rows, K*d) block of the E-/M-step: 4 MiB in float64, so that a block
# stays in cache between the matmul and the reductions that follow it.
BLOCK_ELEMENTS = 2**19
ILL_DEFINED = ("some components have an ill-defined covariance (singleton or collapsed points, "
               "or a component with no points); increase reg_covar (got {reg_covar}), decrease "
               "n_components, or scale the data")


def check_covariance_type(covariance_type: str) -> str:
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(f"unknown covariance_type {covariance_type!r}; choose from {', '.join(COVARIANCE_TYPES)}")
    return covariance_type


def n_parameters(n_components: int, n_features: int, covariance_type: str) -> int:
    """Free parameters: K - 1 weights, K d means, and the covariances
    (full: K d(d+1)/2, tied: d(d+1)/2, diag: K d, spherical: K)."""
    k, d = n_components, n_features
    cov = {"full": k * d * (d + 1) // 2, "tied": d * (d + 1) // 2, "diag": k * d, "spherical": k}
    return cov[check_covariance_type(covariance_type)] + k * d + k - 1


def log_det_cholesky(precisions_cholesky: torch.Tensor, covariance_type: str, n_features: int) -> torch.Tensor:
    """log det U_k = -1/2 log det Sigma_k, shape (K,) (a scalar for "tied")."""
    if covariance_type in ("full", "tied"):
        return precisions_cholesky.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    if covariance_type == "diag":
        return precisions_cholesky.log().sum(-1)
    return n_features * precisions_cholesky.log()


def _rows(k: int, d: int) -> int:
    return max(1, BLOCK_ELEMENTS // (k * d))


def _blocks(n: int, k: int, d: int):
    rows = _rows(k, d)
    return (slice(start, start + rows) for start in range(0, n, rows))


def _log_prob_fn(means: torch.Tensor, precisions_cholesky: torch.Tensor, covariance_type: str,
                 log_weights: Optional[torch.Tensor], n: int):
    """f(x) = log pi_k + log N(x_i | mu_k, Sigma_k) for a block of rows, shape (n, K), with all
    that does not depend on x computed once (blocks of at most n rows). Without ``log_weights``,
    log pi_k = 0."""
    k, d = means.shape
    bias = log_det_cholesky(precisions_cholesky, covariance_type, d) - 0.5 * d * math.log(2 * math.pi)
    bias = bias if log_weights is None else bias + log_weights
    if covariance_type in ("full", "tied"):
        u_all = precisions_cholesky.expand(k, d, d)
        u = u_all.transpose(0, 1).reshape(d, k * d)  # [U_1 ... U_K]
        shift = torch.einsum("kd,kde->ke", means, u_all).reshape(1, k * d)  # mu_k^T U_k
        buffer = means.new_empty(min(n, _rows(k, d)), k * d)  # reused by every block

        def log_prob(x):  # -1/2 ||x^T U_k - mu_k^T U_k||^2 + bias_k: one matmul for all K
            y = torch.addmm(shift, x, u, beta=-1, out=buffer[:x.shape[0]])
            return y.square_().view(-1, k, d).sum(-1).mul_(-0.5).add_(bias)
        return log_prob
    precisions = precisions_cholesky.square()
    if covariance_type == "diag":  # -1/2 sum_j lambda_kj (x_j - mu_kj)^2, expanded as in [3]
        const = bias - 0.5 * (means.square() * precisions).sum(1)
        linear, quadratic = (means * precisions).T, -0.5 * precisions.T
        return lambda x: torch.addmm(const, x, linear).addmm_(x.square(), quadratic)
    const = bias - 0.5 * means.square().sum(1) * precisions
    linear = means.T * precisions
    return lambda x: torch.addmm(const, x, linear).addr_(x.square().sum(1), precisions, alpha=-0.5)


def weighted_log_prob(x: torch.Tensor, log_weights: Optional[torch.Tensor], means: torch.Tensor,
                      precisions_cholesky: torch.Tensor, covariance_type: str) -> torch.Tensor:
    """log pi_k + log N(x_i | mu_k, Sigma_k), shape (N, K) (log pi_k = 0 if ``log_weights`` is None).

    Args:
        x: (N, d) data.
        log_weights: (K,) or None.
        means: (K, d).
        precisions_cholesky: U (see the module docstring for its shape).
        covariance_type: "full", "tied", "diag" or "spherical".
    """
    (n, d), k = x.shape, means.shape[0]
    log_prob = _log_prob_fn(means, precisions_cholesky, covariance_type, log_weights, n)
    out = x.new_empty(n, k)
    for rows in _blocks(n, k, d):
        out[rows] = log_prob(x[rows])
    return out


def log_prob_resp(x: torch.Tensor, log_weights: torch.Tensor, means: torch.Tensor,
                  precisions_cholesky: torch.Tensor, covariance_type: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """The E-step: (log p(x_i) of shape (N,), log r_ik of shape (N, K)), block by block."""
    (n, d), k = x.shape, means.shape[0]
    log_prob = _log_prob_fn(means, precisions_cholesky, covariance_type, log_weights, n)
    log_norm, log_resp = x.new_empty(n), x.new_empty(n, k)
    for rows in _blocks(n, k, d):
        weighted = log_prob(x[rows])
        log_norm[rows] = torch.logsumexp(weighted, 1)
        log_resp[rows] = weighted.sub_(log_norm[rows, None])
    return log_norm, log_resp


def gaussian_parameters(x: torch.Tensor, resp: torch.Tensor, reg_covar: float,
                        covariance_type: str) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The M-step: (n_k, means, covariances) from responsibilities r (N, K), in one pass.

    The moments are accumulated about the data mean c block by block; for "full", per block
    one matmul (x - c)^T [r_1 (x - c) ... r_K (x - c)] gives all K scatter matrices.
    n_k gets 10 eps added, as in [3]: a component without points then gets, instead of
    0 / 0, the data mean as its mean (scikit-learn: the origin) and reg_covar I.
    """
    (n, d), k = x.shape, resp.shape[1]
    center = x.mean(0)
    counts, first = x.new_zeros(k), x.new_zeros(k, d)
    second = x.new_zeros({"full": (d, k * d), "tied": (d, d)}.get(covariance_type, (k, d)))
    for rows in _blocks(n, k, d):
        xb, rb = x[rows] - center, resp[rows]
        counts += rb.sum(0)
        first.addmm_(rb.T, xb)
        if covariance_type == "full":
            second.addmm_(xb.T, (rb[:, :, None] * xb[:, None, :]).view(-1, k * d))
        elif covariance_type == "tied":
            second.addmm_(xb.T, xb)
        else:
            second.addmm_(rb.T, xb.square())
    nk = counts + 10 * torch.finfo(resp.dtype).eps
    shifted = first / nk[:, None]  # mu_k - c
    if covariance_type == "full":
        cov = second.view(d, k, d).transpose(0, 1) / nk[:, None, None] - shifted[:, :, None] * shifted[:, None, :]
    elif covariance_type == "tied":
        cov = (second - (nk[:, None] * shifted).T @ shifted) / nk.sum()
    else:
        cov = second / nk[:, None] - shifted.square()
        cov = cov.mean(1) if covariance_type == "spherical" else cov
    if covariance_type in ("full", "tied"):
        cov = 0.5 * (cov + cov.mT)  # the two triangles are rounded differently
        cov.diagonal(dim1=-2, dim2=-1).add_(reg_covar)
    else:
        cov = cov + reg_covar
    return nk, center + shifted, cov


def precision_cholesky(covariances: torch.Tensor, covariance_type: str, reg_covar: float) -> torch.Tensor:
    """U with Sigma^{-1} = U U^T: U = L^{-T} for Sigma = L L^T (batched Cholesky)."""
    if covariance_type in ("full", "tied"):
        chol, info = torch.linalg.cholesky_ex(covariances)
        if bool((info > 0).any()):
            raise ValueError(ILL_DEFINED.format(reg_covar=reg_covar))
        eye = torch.eye(chol.shape[-1], dtype=chol.dtype, device=chol.device).expand_as(chol)
        return torch.linalg.solve_triangular(chol, eye, upper=False).mT
    if bool((covariances <= 0).any()):
        raise ValueError(ILL_DEFINED.format(reg_covar=reg_covar))
    return covariances.rsqrt()


def precision_cholesky_from_precisions(precisions: torch.Tensor, covariance_type: str) -> torch.Tensor:
    """U upper triangular with Lambda = U U^T: the lower Cholesky factor of J Lambda J, flipped
    back (J reverses rows and columns), as in [3]. ``ValueError`` if Lambda is not positive-definite."""
    if covariance_type in ("full", "tied"):
        chol, info = torch.linalg.cholesky_ex(precisions.flip(-2, -1))
        if bool((info > 0).any()) or not torch.allclose(precisions, precisions.mT):
            raise ValueError(f"precisions_init must be symmetric positive-definite for covariance_type "
                             f"{covariance_type!r}")
        return chol.flip(-2, -1)
    if bool((precisions <= 0).any()):
        raise ValueError(f"precisions_init must be positive for covariance_type {covariance_type!r}, "
                         f"got minimum {precisions.min().item()}")
    return precisions.sqrt()


def covariances_from_precision_cholesky(precisions_cholesky: torch.Tensor, covariance_type: str) -> torch.Tensor:
    """Sigma = (U U^T)^{-1} = U^{-T} U^{-1}."""
    if covariance_type in ("full", "tied"):
        eye = torch.eye(precisions_cholesky.shape[-1], dtype=precisions_cholesky.dtype,
                        device=precisions_cholesky.device).expand_as(precisions_cholesky)
        inv = torch.linalg.solve_triangular(precisions_cholesky, eye, upper=True)
        return inv.mT @ inv
    return precisions_cholesky.square().reciprocal()


def cholesky_of_covariances(covariances: torch.Tensor, covariance_type: str, n_components: int,
                            n_features: int) -> torch.Tensor:
    """Lower Cholesky factors L_k of Sigma_k, always (K, d, d): for sampling and for Pyro."""
    if covariance_type in ("full", "tied"):
        chol = torch.linalg.cholesky(covariances)
        return chol.expand(n_components, n_features, n_features).clone()
    scale = covariances.sqrt()
    if covariance_type == "spherical":
        scale = scale[:, None].expand(n_components, n_features)
    return torch.diag_embed(scale)
