r"""The Gaussian mixture of :mod:`zoo.gmm.em` as a Pyro model, fitted by SVI with the assignment
summed out: the counterpart that puts EM and gradient ascent side by side.

    z_i ~ Categorical(pi),   x_i | z_i ~ N(mu_{z_i}, Sigma_{z_i})

``TraceEnum_ELBO`` enumerates z_i in parallel [1], so with an empty guide the loss is the
exact negative log-likelihood  -sum_i log sum_k pi_k N(x_i | mu_k, Sigma_k)  (no Monte
Carlo noise: the guide has no latent left to sample), and SVI is gradient ascent on the
same objective EM climbs [2]. Parameters are unconstrained: pi = softmax(logits),
Sigma = L L^T with L lower triangular and a softplus diagonal (full), or diagonal scales
softplus(s) (diag). There is no reg_covar: SVI maximizes the likelihood itself.

References:
    [1] Obermeyer, Bingham, Jankowiak, Pradhan, Chiu, Rush, Goodman. Tensor variable
        elimination for plated factor graphs. ICML 2019
    [2] Dempster, Laird, Rubin. Maximum likelihood from incomplete data via the EM
        algorithm. JRSS B 1977
"""
import time
from typing import Optional

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import SVI, TraceEnum_ELBO
from torch import nn

from zoo._utils.checks import positive_float, positive_int
from zoo._utils.contexts import seeded
from zoo._utils.params import expose
from zoo.gmm.em import GaussianMixtureEM

DATA_PLATE, ASSIGNMENT, OBSERVED = "data", "z", "x"
SVI_COVARIANCE_TYPES = ("full", "diag")


def _inverse_softplus(y: torch.Tensor) -> torch.Tensor:
    return y + torch.log(-torch.expm1(-y))


class GaussianMixtureSVI(nn.Module):
    """A Gaussian mixture fitted by SVI on the enumerated marginal likelihood.

    Args:
        n_components: K.
        covariance_type: "full" or "diag".
        num_steps: SVI steps (Adam).
        lr: Adam learning rate.
        batch_size: points per step (None: all, an exact gradient).
        init: initialization of :class:`zoo.gmm.em.GaussianMixtureEM` ("kmeans", "kmeans++",
            "random"), whose parameters SVI starts from.
        reg_covar: used by that initialization only.
        random_state: seed of the initialization and of the minibatches.
        device, dtype: where and in what precision to compute.
    """

    def __init__(self, n_components: int, covariance_type: str = "full", num_steps: int = 200, lr: float = 0.05,
                 batch_size: Optional[int] = None, init: str = "kmeans", reg_covar: float = 1e-6,
                 random_state: int = 0, device="cpu", dtype: torch.dtype = torch.float64):
        super().__init__()
        if covariance_type not in SVI_COVARIANCE_TYPES:
            raise ValueError(f"unknown covariance_type {covariance_type!r} for SVI; choose from "
                             f"{', '.join(SVI_COVARIANCE_TYPES)}")
        self.covariance_type, self.num_steps = covariance_type, positive_int("num_steps", num_steps)
        self.lr = positive_float("lr", lr)
        self.batch_size = None if batch_size is None else positive_int("batch_size", batch_size)
        # validates n_components, init, reg_covar, random_state, device, dtype
        self.em_init = GaussianMixtureEM(n_components, covariance_type, reg_covar=reg_covar, max_iter=0, init=init,
                                         random_state=random_state, device=device, dtype=dtype)
        self.n_components, self.random_state = n_components, random_state

    def _set_parameters(self, weights: torch.Tensor, means: torch.Tensor, scale_tril: torch.Tensor) -> None:
        self.logits = nn.Parameter(weights.log())
        self.locs = nn.Parameter(means.clone())
        diag = _inverse_softplus(scale_tril.diagonal(dim1=-2, dim2=-1))
        if self.covariance_type == "full":
            self.scale_raw = nn.Parameter(scale_tril.tril(-1) + torch.diag_embed(diag))
        else:
            self.scale_raw = nn.Parameter(diag)

    def weights(self) -> torch.Tensor:
        return self.logits.softmax(-1)

    def scale_tril(self) -> torch.Tensor:
        """L with Sigma = L L^T, (K, d, d)."""
        diag = nn.functional.softplus(self.scale_raw if self.covariance_type == "diag"
                                      else self.scale_raw.diagonal(dim1=-2, dim2=-1))
        return torch.diag_embed(diag) + (0 if self.covariance_type == "diag" else self.scale_raw.tril(-1))

    # p(x, z) = pi_z N(x | mu_z, Sigma_z), z enumerated
    def model(self, x: torch.Tensor, batch_size: Optional[int] = None) -> None:
        expose("gmm", self)
        weights, locs = self.weights(), self.locs
        if self.covariance_type == "diag":
            scale = nn.functional.softplus(self.scale_raw)
        else:
            scale_tril = self.scale_tril()
        with pyro.plate(DATA_PLATE, x.shape[0], subsample_size=batch_size) as idx:
            z = pyro.sample(ASSIGNMENT, dist.Categorical(weights), infer={"enumerate": "parallel"})
            if self.covariance_type == "diag":
                pyro.sample(OBSERVED, dist.Normal(locs[z], scale[z]).to_event(1), obs=x[idx])
            else:
                pyro.sample(OBSERVED, dist.MultivariateNormal(locs[z], scale_tril=scale_tril[z]), obs=x[idx])

    # q is empty: z, the only latent, is summed out exactly
    def guide(self, x: torch.Tensor, batch_size: Optional[int] = None) -> None:
        pass

    def fit(self, x) -> "GaussianMixtureSVI":
        """Initialize as EM would, then ``num_steps`` SVI steps.

        Sets ``lower_bounds_`` (the mean log-likelihood per sample before each step; with
        ``batch_size``, its unbiased minibatch estimate), ``lower_bound_``, ``step_times_`` and
        the fitted ``weights_``, ``means_``, ``covariances_``.
        """
        init = self.em_init.fit(x)
        x = init._check_x(x, fitting=True)
        scale_tril = torch.linalg.cholesky(init.covariances_) if self.covariance_type == "full" \
            else torch.diag_embed(init.covariances_.sqrt())
        self._set_parameters(init.weights_, init.means_, scale_tril)
        svi = SVI(self.model, self.guide, pyro.optim.Adam({"lr": self.lr}), TraceEnum_ELBO(max_plate_nesting=1))
        self.lower_bounds_, self.step_times_ = [], []
        with seeded(self.random_state, x.device):  # the minibatches
            for _ in range(self.num_steps):
                start = time.perf_counter()
                loss = svi.step(x, self.batch_size)
                self.step_times_.append(time.perf_counter() - start)
                self.lower_bounds_.append(-loss / x.shape[0])
        self.lower_bound_ = self.lower_bounds_[-1]
        return self

    @property
    def weights_(self) -> torch.Tensor:
        return self.weights().detach()

    @property
    def means_(self) -> torch.Tensor:
        return self.locs.detach().clone()

    @property
    def covariances_(self) -> torch.Tensor:
        scale_tril = self.scale_tril().detach()
        cov = scale_tril @ scale_tril.mT
        return cov if self.covariance_type == "full" else cov.diagonal(dim1=-2, dim2=-1)

    def to_em(self, x) -> GaussianMixtureEM:
        """A :class:`GaussianMixtureEM` holding these parameters (for predict, score, bic...)."""
        precisions = torch.linalg.inv(self.covariances_) if self.covariance_type == "full" \
            else self.covariances_.reciprocal()
        weights = self.weights_
        return GaussianMixtureEM(self.n_components, self.covariance_type, max_iter=0,
                                 weights_init=weights / weights.sum(), means_init=self.means_,
                                 precisions_init=precisions, dtype=weights.dtype, device=weights.device).fit(x)

    def score(self, x) -> float:
        """Mean log-likelihood per sample, from the enumerated Pyro model (all of x)."""
        x = self.em_init._check_x(x, fitting=True)
        with torch.no_grad():
            return -TraceEnum_ELBO(max_plate_nesting=1).loss(self.model, self.guide, x) / x.shape[0]
