r"""Gaussian mixtures fitted by EM in PyTorch, with scikit-learn's API and names.

    p(x) = sum_k pi_k N(x | mu_k, Sigma_k);   EM [1, 2] alternates
    E-step:  log r_ik = log pi_k + log N(x_i | mu_k, Sigma_k) - log p(x_i)
    M-step:  pi, mu, Sigma maximizing sum_i sum_k r_ik log pi_k N(x_i | mu_k, Sigma_k)

each step never decreasing the log-likelihood [1]. The kernels are in :mod:`zoo.gmm.kernels`,
the initializations in :mod:`zoo.gmm.init`; the Pyro (SVI) counterpart is
:class:`zoo.gmm.svi.GaussianMixtureSVI`.

Semantics follow ``sklearn.mixture.GaussianMixture`` [3], so that from the same initial
parameters both produce the same iterates: ``lower_bound_`` is the mean log-likelihood per
sample computed in the last E-step (i.e. of the parameters before the last M-step), and a
run has converged when it changes by less than ``tol`` between iterations. Differences: the
initializations (see :mod:`zoo.gmm.init`); with ``max_iter=0`` the initialization is returned
with ``lower_bound_`` its mean log-likelihood (scikit-learn reports -inf); a component that
loses all its points is kept, as in [3], with weight ~2e-15 / N, covariance reg_covar I and
its mean at the data mean (scikit-learn: at the origin); it may regain points later.

References:
    [1] Dempster, Laird, Rubin. Maximum likelihood from incomplete data via the EM
        algorithm. JRSS B 1977
    [2] Bishop. Pattern Recognition and Machine Learning, Sec. 9.2. Springer 2006
    [3] Pedregosa et al. Scikit-learn: Machine Learning in Python. JMLR 2011
        (sklearn/mixture/_gaussian_mixture.py)
    [4] Schwarz. Estimating the dimension of a model. Ann. Stat. 1978 (BIC)
    [5] Akaike. A new look at the statistical model identification. IEEE TAC 1974 (AIC)
"""
import math
import warnings
from typing import Optional, Tuple

import torch

from zoo._utils.checks import positive_int
from zoo.gmm import kernels as K
from zoo.gmm.init import INIT_METHODS, initial_responsibilities


class ConvergenceWarning(UserWarning):
    """The best initialization did not converge within ``max_iter`` iterations."""


def _non_negative(name: str, value, kind=float):
    ok = not isinstance(value, bool) and isinstance(value, (int, float) if kind is float else int)
    if not ok or not 0 <= value < math.inf:
        raise ValueError(f"{name} must be a non-negative {'number' if kind is float else 'integer'}, got {value!r}")
    return kind(value)


class GaussianMixtureEM:
    """A Gaussian mixture fitted by EM.

    Args:
        n_components: K.
        covariance_type: "full" (K, d, d), "tied" (d, d), "diag" (K, d) or "spherical" (K,).
        tol: convergence threshold on the change of the mean log-likelihood per sample.
        reg_covar: added to the diagonal of every covariance; keeps them positive-definite.
        max_iter: EM iterations per initialization (0: return the initialization).
        n_init: initializations; the one with the highest lower bound is kept.
        init: "kmeans", "kmeans++" or "random" (see :mod:`zoo.gmm.init`); ignored where
            weights_init, means_init and precisions_init are all given.
        weights_init: (K,) initial weights, or None.
        means_init: (K, d) initial means, or None.
        precisions_init: initial precisions (inverse covariances), shaped as the covariances.
        random_state: seed of the initializations and of ``sample``.
        device, dtype: where and in what precision to compute (float64 by default).
    """

    def __init__(self, n_components: int = 1, covariance_type: str = "full", tol: float = 1e-3,
                 reg_covar: float = 1e-6, max_iter: int = 100, n_init: int = 1, init: str = "kmeans",
                 weights_init=None, means_init=None, precisions_init=None, random_state: int = 0,
                 device="cpu", dtype: torch.dtype = torch.float64):
        self.n_components = positive_int("n_components", n_components)
        self.covariance_type = K.check_covariance_type(covariance_type)
        self.tol = _non_negative("tol", tol)
        self.reg_covar = _non_negative("reg_covar", reg_covar)
        self.max_iter = _non_negative("max_iter", max_iter, int)
        self.n_init = positive_int("n_init", n_init)
        if init not in INIT_METHODS:
            raise ValueError(f"unknown init {init!r}; choose from {', '.join(INIT_METHODS)}")
        self.init = init
        self.random_state = _non_negative("random_state", random_state, int)
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.device, self.dtype = torch.device(device), dtype
        self.weights_init, self.means_init, self.precisions_init = (
            None if v is None else torch.as_tensor(v, dtype=dtype, device=self.device)
            for v in (weights_init, means_init, precisions_init))

    # ------------------------------------------------------------------ checks
    def _check_x(self, x, fitting: bool = False) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=self.dtype, device=self.device)
        if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"x must be a non-empty 2-D array (n_samples, n_features), got shape {tuple(x.shape)}")
        if not bool(torch.isfinite(x).all()):
            raise ValueError("x contains NaN or infinite values; remove or impute them before fitting")
        if fitting and x.shape[0] < self.n_components:
            raise ValueError(f"n_components={self.n_components} must not exceed n_samples={x.shape[0]}")
        if not fitting:
            self._check_fitted()
            if x.shape[1] != self.means_.shape[1]:
                raise ValueError(f"x has {x.shape[1]} features; the mixture was fitted on {self.means_.shape[1]}")
        return x

    def _check_fitted(self) -> None:
        if not hasattr(self, "means_"):
            raise ValueError("this GaussianMixtureEM is not fitted yet; call fit(x) first")

    def _check_init_parameters(self, n_features: int) -> None:
        k, d = self.n_components, n_features
        shapes = {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}
        for name, value, shape in [("weights_init", self.weights_init, (k,)), ("means_init", self.means_init, (k, d)),
                                   ("precisions_init", self.precisions_init, shapes[self.covariance_type])]:
            if value is not None and tuple(value.shape) != shape:
                raise ValueError(f"{name} must have shape {shape}, got {tuple(value.shape)}")
        w = self.weights_init
        if w is not None:
            atol = 1e-6 if self.dtype == torch.float32 else 1e-8  # as scikit-learn
            if bool((w < 0).any() | (w > 1).any()) or abs(float(w.sum()) - 1) > atol:
                raise ValueError(f"weights_init must lie in [0, 1] and sum to 1, got {w.tolist()}")
        if self.precisions_init is not None:  # raises if not positive-definite
            K.precision_cholesky_from_precisions(self.precisions_init, self.covariance_type)

    # ------------------------------------------------------------------ EM
    def _initialize(self, x: torch.Tensor, generator: torch.Generator) -> None:
        inits = (self.weights_init, self.means_init, self.precisions_init)
        if any(v is None for v in inits):
            resp = initial_responsibilities(x, self.n_components, self.init, generator)
            nk, means, covariances = K.gaussian_parameters(x, resp, self.reg_covar, self.covariance_type)
            weights = nk / x.shape[0]
        self.weights_ = weights if self.weights_init is None else self.weights_init.clone()
        self.means_ = means if self.means_init is None else self.means_init.clone()
        if self.precisions_init is None:
            self.covariances_ = covariances
            self.precisions_cholesky_ = K.precision_cholesky(covariances, self.covariance_type, self.reg_covar)
        else:
            self.precisions_cholesky_ = K.precision_cholesky_from_precisions(self.precisions_init,
                                                                             self.covariance_type)
            self.covariances_ = K.covariances_from_precision_cholesky(self.precisions_cholesky_,
                                                                      self.covariance_type)

    def _weighted_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log pi_k + log N(x_i | mu_k, Sigma_k), shape (N, K)."""
        return K.weighted_log_prob(x, self.weights_.log(), self.means_, self.precisions_cholesky_,
                                   self.covariance_type)

    def _log_prob_resp(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return K.log_prob_resp(x, self.weights_.log(), self.means_, self.precisions_cholesky_, self.covariance_type)

    def e_step(self, x) -> Tuple[float, torch.Tensor]:
        """E-step: (mean_i log p(x_i), log r of shape (N, K)), under the current parameters."""
        log_prob_norm, log_resp = self._log_prob_resp(torch.as_tensor(x, dtype=self.dtype, device=self.device))
        return float(log_prob_norm.mean()), log_resp

    def m_step(self, x, log_resp: torch.Tensor) -> None:
        """M-step: set weights_, means_, covariances_, precisions_cholesky_ from log r (N, K)."""
        x = torch.as_tensor(x, dtype=self.dtype, device=self.device)
        nk, self.means_, self.covariances_ = K.gaussian_parameters(x, log_resp.exp(), self.reg_covar,
                                                                   self.covariance_type)
        self.weights_ = nk / nk.sum()
        self.precisions_cholesky_ = K.precision_cholesky(self.covariances_, self.covariance_type, self.reg_covar)

    def _run(self, x: torch.Tensor) -> Tuple[float, list, int, bool]:
        """EM from the current parameters: (lower bound, lower bounds, iterations, converged)."""
        if self.max_iter == 0:
            return self.e_step(x)[0], [], 0, False
        lower_bound, lower_bounds = -math.inf, []
        for n_iter in range(1, self.max_iter + 1):
            previous = lower_bound
            lower_bound, log_resp = self.e_step(x)
            self.m_step(x, log_resp)
            lower_bounds.append(lower_bound)
            if abs(lower_bound - previous) < self.tol:
                return lower_bound, lower_bounds, n_iter, True
        return lower_bound, lower_bounds, self.max_iter, False

    def _parameters(self) -> tuple:
        return self.weights_, self.means_, self.covariances_, self.precisions_cholesky_

    def fit(self, x) -> "GaussianMixtureEM":
        """Run EM from ``n_init`` initializations and keep the one with the highest lower bound.

        Sets ``weights_``, ``means_``, ``covariances_``, ``precisions_cholesky_``,
        ``lower_bound_``, ``lower_bounds_`` (one per iteration), ``n_iter_``, ``converged_``.
        """
        x = self._check_x(x, fitting=True)
        self._check_init_parameters(x.shape[1])
        generator = torch.Generator(device=x.device).manual_seed(self.random_state)
        best = None
        for _ in range(self.n_init):
            self._initialize(x, generator)
            run = self._run(x)
            if best is None or run[0] > best[0][0]:
                best = run, self._parameters()
        (self.lower_bound_, self.lower_bounds_, self.n_iter_, self.converged_), params = best
        self.weights_, self.means_, self.covariances_, self.precisions_cholesky_ = params
        if self.max_iter > 0 and not self.converged_:
            warnings.warn(f"EM did not converge in max_iter={self.max_iter} iterations (tol={self.tol}); "
                          "increase max_iter or tol, or check for degenerate data", ConvergenceWarning, stacklevel=2)
        return self

    # ------------------------------------------------------------------ fitted model
    @property
    def precisions_(self) -> torch.Tensor:
        """Sigma^{-1} = U U^T."""
        self._check_fitted()
        u = self.precisions_cholesky_
        return u @ u.mT if self.covariance_type in ("full", "tied") else u.square()

    def fit_predict(self, x) -> torch.Tensor:
        """``fit(x)`` then the labels of ``x``."""
        return self.fit(x).predict(x)

    def score_samples(self, x) -> torch.Tensor:
        """log p(x_i), shape (N,)."""
        return torch.logsumexp(self._weighted_log_prob(self._check_x(x)), 1)

    def score(self, x) -> float:
        """Mean log-likelihood per sample."""
        return float(self.score_samples(x).mean())

    def predict(self, x) -> torch.Tensor:
        """argmax_k r_ik, shape (N,)."""
        return self._weighted_log_prob(self._check_x(x)).argmax(1)

    def predict_proba(self, x) -> torch.Tensor:
        """Responsibilities r_ik = p(z_i = k | x_i), shape (N, K); rows sum to one."""
        return self._log_prob_resp(self._check_x(x))[1].exp()

    def n_parameters(self) -> int:
        """Free parameters of the fitted mixture (see :func:`zoo.gmm.kernels.n_parameters`)."""
        self._check_fitted()
        return K.n_parameters(self.n_components, self.means_.shape[1], self.covariance_type)

    def bic(self, x) -> float:
        """BIC [4] = -2 log p(X) + p log N (lower is better)."""
        x = self._check_x(x)
        return -2 * self.score(x) * x.shape[0] + self.n_parameters() * math.log(x.shape[0])

    def aic(self, x) -> float:
        """AIC [5] = -2 log p(X) + 2 p (lower is better)."""
        x = self._check_x(x)
        return -2 * self.score(x) * x.shape[0] + 2 * self.n_parameters()

    def sample(self, n_samples: int = 1, random_state: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Draw (x (n, d), labels (n,)), grouped by component as in scikit-learn.

        z ~ Categorical(pi), x = mu_z + L_z eps with Sigma_z = L_z L_z^T, eps ~ N(0, I).
        ``random_state`` defaults to the estimator's.
        """
        self._check_fitted()
        positive_int("n_samples", n_samples)
        seed = self.random_state if random_state is None else _non_negative("random_state", random_state, int)
        generator = torch.Generator(device=self.device).manual_seed(seed)
        labels = torch.multinomial(self.weights_, n_samples, replacement=True, generator=generator).sort().values
        k, d = self.means_.shape
        chol = K.cholesky_of_covariances(self.covariances_, self.covariance_type, k, d)
        x = torch.randn(n_samples, d, generator=generator, dtype=self.dtype, device=self.device)
        start = 0
        for j, count in enumerate(torch.bincount(labels, minlength=k).tolist()):
            x[start:start + count] = self.means_[j] + x[start:start + count] @ chol[j].T
            start += count
        return x, labels
