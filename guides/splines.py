r"""Neural-spline-flow guides: rational-quadratic spline couplings from zuko [1, 2].

Each step is a coupling transform [3] whose transformed half goes through a monotonic
rational-quadratic spline (RQS) [1] with K bins on [-B, B] (identity outside it), the
spline's widths, heights and knot derivatives computed by an MLP from the constant half
and the encoder's features h (the context):

    z_a' = z_a,      z_b' = RQS(z_b; theta(z_a, h)),      log|det| = sum_i log RQS'(z_b,i)

Both directions are one pass of the MLP, so the guide draws, scores its own draws and scores
*any* value (through the exact inverse): ``elbo-stl``, ``iwae-stl`` and ``iwae-dreg`` work
with it. Consecutive steps swap the halves (checkered masks), so that every coordinate is
transformed. The steps are zuko's ``GeneralCouplingTransform`` with its
``MonotonicRQSTransform`` (zuko is maintained; Pyro's own flows are not developed further).

References:
    [1] Durkan, Bekasov, Murray, Papamakarios. Neural Spline Flows. arXiv:1906.04032
    [2] Rozet et al. zuko: normalizing flows in PyTorch. doi:10.5281/zenodo.7625672
    [3] Dinh, Sohl-Dickstein, Bengio. Density estimation using Real NVP. arXiv:1605.08803
"""
from functools import partial
from typing import Sequence

import torch
from torch import nn
from torch.distributions import Transform
from zuko.flows.coupling import GeneralCouplingTransform
from zuko.transforms import MonotonicRQSTransform

from guides._utils import positive_float, positive_int
from guides.flows import FlowGuide
from guides.registry import GUIDES


class SplineCoupling(nn.Module):
    """One amortized RQS coupling step; ``condition(h)`` gives the step's ``Transform``.

    Args:
        in_features: size of the encoder's feature vector (the context).
        latent_dim: dimension of z (>= 2).
        mask: boolean (latent_dim,), True for the constant half.
        bins: K, the spline's bins.
        hidden: the MLP's hidden sizes.
        bound: B, the spline acts on [-B, B] and is the identity outside.
    """

    def __init__(self, in_features: int, latent_dim: int, mask: torch.Tensor, bins: int = 8,
                 hidden: Sequence[int] = (64, 64), bound: float = 5.0):
        super().__init__()
        univariate = partial(MonotonicRQSTransform, bound=bound)
        self.coupling = GeneralCouplingTransform(
            latent_dim, in_features, mask=mask, univariate=univariate,
            shapes=[(bins,), (bins,), (bins - 1,)], hidden_features=tuple(hidden))

    def condition(self, context: torch.Tensor) -> Transform:
        return self.coupling(context)


@GUIDES.register("nsf")
class SplineFlowGuide(FlowGuide):
    r"""q(z|x): the amortized diagonal Gaussian base pushed through K RQS coupling steps [1].

    See the module docstring. The spline acts on [-B, B] (default B = 5, zuko's): a latent
    coordinate outside it passes unchanged, which a VAE's posteriors near N(0, I) rarely reach.

    Args:
        in_features: size of the encoder's feature vector.
        latent_dim: dimension of z (a coupling needs at least 2).
        num_flows: number of coupling steps K (``nsf:K``).
        bins: spline bins per coordinate.
        hidden: hidden sizes of each step's MLP.
        bound: B.
    """

    def __init__(self, in_features: int, latent_dim: int, num_flows: int = 4, bins: int = 8,
                 hidden: Sequence[int] = (64, 64), bound: float = 5.0):
        K, D = positive_int("num_flows", num_flows), positive_int("latent_dim", latent_dim)
        if D < 2:
            raise ValueError(f"guide 'nsf' needs latent_dim >= 2 (a coupling splits z in two), got {D}")
        bins, bound = positive_int("bins", bins), positive_float("bound", bound)
        hidden = [positive_int("hidden", h) for h in hidden]
        steps = [SplineCoupling(in_features, D, torch.arange(D) % 2 == k % 2, bins, hidden, bound) for k in range(K)]
        super().__init__(in_features, D, steps)
