"""Tests of guides.flows: log-determinants against autograd Jacobians, invertibility of the
parametrizations, exactness and normalization of the flow densities, shapes, and training."""
import math

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.distributions.transforms import ConditionalAffineAutoregressive
from pyro.distributions.transforms.planar import ConditionedPlanar
from pyro.distributions.transforms.radial import ConditionedRadial
from torch.autograd.functional import jacobian

import zoo
from guides import build_guide, list_guides
from guides.flows import IAFGuide, PlanarFlowGuide, RadialFlowGuide, SylvesterFlowGuide
from guides.splines import SplineFlowGuide
from tests.guides.helpers import perturbed_guide
from zoo.estimators import log_weights

KINDS = ["planar", "radial", "iaf", "sylvester", "nsf"]
F64 = torch.float64
H, D = 5, 3  # feature and latent sizes of the small heads


def make_guide(kind, num_flows=2, latent_dim=D, scale=0.5, seed=0):
    """A float64 flow guide whose flow parameters are moved well away from their initial values.

    The spline steps' MLPs (64 hidden units) take a fifth of the perturbation: at the full one
    their splines reach the minimum slope (1e-3) and a composed Jacobian of three steps becomes
    too ill-conditioned for slogdet to check a log-determinant to 1e-10."""
    return perturbed_guide(f"{kind}:{num_flows}", H, latent_dim, scale / 5 if kind == "nsf" else scale, seed)


def randn(*shape, scale=1.0):
    return scale * torch.randn(*shape, dtype=F64)


def composed_map(guide, h):
    """The single-datapoint flow z_0 -> z_K, built from the steps conditioned on ``h`` (H,)."""
    transforms = guide.transforms(h)

    def f(z):
        for t in transforms:
            z = t(z)
        return z

    return f


# ---- names -----------------------------------------------------------------------------


def test_registered_by_name_with_number_of_steps():
    assert {"planar", "radial", "iaf", "sylvester", "nsf"} <= set(list_guides())
    assert set(zoo.list_guides()) == set(list_guides())
    for name, cls, steps in [("planar:3", PlanarFlowGuide, 3), ("radial:2", RadialFlowGuide, 2),
                             ("sylvester:5", SylvesterFlowGuide, 5)]:
        guide = build_guide(name, H, D)
        assert isinstance(guide, cls) and len(guide.flows) == steps
    iaf = build_guide("iaf:3", H, D)
    assert isinstance(iaf, IAFGuide)
    assert sum(isinstance(s, ConditionalAffineAutoregressive) for s in iaf.flows) == 3
    assert len(PlanarFlowGuide(H, D).flows) == 8 and len(SylvesterFlowGuide(H, D).flows) == 4


@pytest.mark.parametrize("name", ["planar:0", "planar:x", "planar:-1", "sylvester:", "plnar:2"])
def test_bad_names_raise(name):
    with pytest.raises(ValueError):
        build_guide(name, H, D)
    with pytest.raises(ValueError):
        zoo.build("vae", data_shape=(1, 28, 28), latent_dim=D, hidden=(8,), guide=name)


@pytest.mark.parametrize("cls", [PlanarFlowGuide, RadialFlowGuide, IAFGuide, SylvesterFlowGuide, SplineFlowGuide])
@pytest.mark.parametrize("num_flows", [0, -2, 1.5, True])
def test_factories_reject_bad_num_flows(cls, num_flows):
    with pytest.raises(ValueError, match="num_flows must be a positive integer"):
        cls(H, D, num_flows=num_flows)


# ---- one step at a time -------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_step_log_det_matches_autograd_jacobian(kind):
    guide = make_guide(kind, num_flows=2, scale=1.0)
    for step in guide.flows:
        for _ in range(4):
            h, z = randn(H), randn(D, scale=2.0)
            t = step.condition(h)
            _, expected = torch.linalg.slogdet(jacobian(t, z))
            assert torch.allclose(t.log_abs_det_jacobian(z, t(z)), expected, atol=1e-10), step


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batch_shape", [(), (1,), (4,), (2, 3)])
def test_step_shapes_and_per_datapoint_values(kind, batch_shape):
    guide = make_guide(kind)
    h, z = randn(*batch_shape, H), randn(*batch_shape, D)
    for step in guide.flows:
        t = step.condition(h)
        y = t(z)
        log_det = t.log_abs_det_jacobian(z, y)
        assert y.shape == z.shape and log_det.shape == batch_shape
        for idx in np.ndindex(*batch_shape):
            t1 = step.condition(h[idx])
            y1 = t1(z[idx])
            assert torch.allclose(y[idx], y1, atol=1e-12)
            assert torch.allclose(log_det[idx], t1.log_abs_det_jacobian(z[idx], y1), atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_step_parameters_broadcast_over_particles(kind):
    """Parameters from features (N, H) act on samples (K, N, D) datapoint by datapoint."""
    guide = make_guide(kind)
    h, z = randn(3, H), randn(2, 3, D)
    for step in guide.flows:
        t = step.condition(h)
        y = t(z)
        log_det = t.log_abs_det_jacobian(z, y)
        assert y.shape == (2, 3, D) and log_det.shape == (2, 3)
        for k, n in np.ndindex(2, 3):
            t1 = step.condition(h[n])
            y1 = t1(z[k, n])
            assert torch.allclose(y[k, n], y1, atol=1e-12)
            assert torch.allclose(log_det[k, n], t1.log_abs_det_jacobian(z[k, n], y1), atol=1e-12)


# ---- invertibility lives in the parametrization ---------------------------------------------


def test_planar_u_hat_keeps_w_dot_u_above_minus_one():
    w = randn(2000, D, scale=3.0)
    u = torch.cat([randn(1000, D, scale=3.0), -10.0 * w[1000:]])  # half of them adversarial
    u_hat = ConditionedPlanar((randn(2000, 1), u, w)).u_hat(u, w)
    w_u = (w * u).sum(-1)
    w_u_hat = (w * u_hat).sum(-1)
    # up to the rounding of w.u + (softplus(w.u) - 1 - w.u), which is of order |w.u| eps
    assert (w_u_hat >= -1 - 4 * torch.finfo(F64).eps * (1 + w_u.abs())).all()
    # -1 + softplus(w.u) is strictly above -1 until softplus underflows below float64 rounding
    moderate = w_u > -30
    assert moderate.sum() > 500 and (w_u_hat[moderate] > -1).all()


def test_radial_beta_at_least_minus_alpha():
    """alpha and beta recovered from the map itself: f(z) - z = beta / (alpha + r) (z - z_0)."""
    n = 500
    z0, direction = randn(n, D, scale=3.0), torch.nn.functional.normalize(randn(n, D), dim=-1)
    alpha_raw = randn(n, 1, scale=3.0)
    beta_raw = torch.cat([randn(n // 2, 1, scale=3.0), alpha_raw[n // 2 :] - 5.0])  # beta' << alpha'
    t = ConditionedRadial((z0, alpha_raw, beta_raw))
    r1, r2 = 0.5, 2.0
    c1, c2 = [((t(z0 + r * direction) - z0 - r * direction) * direction).sum(-1) / r for r in (r1, r2)]
    beta = (r2 - r1) / (1 / c2 - 1 / c1)
    alpha = beta / c1 - r1
    assert (alpha > 0).all()
    assert (beta + alpha >= -1e-9 * alpha).all()


def test_sylvester_diagonals_keep_every_factor_positive():
    guide = make_guide("sylvester", num_flows=3, scale=3.0)
    h = randn(1000, H, scale=3.0)
    for step in guide.flows:
        t = step.condition(h)
        r, r_tilde = t.R.diagonal(dim1=-2, dim2=-1), t.R_tilde.diagonal(dim1=-2, dim2=-1)
        assert (r.abs() <= 1).all() and (r_tilde.abs() <= 1).all()
        # strictly inside (-1, 1) until tanh of a raw diagonal entry rounds to +-1
        assert (r * r_tilde >= -1).all() and (r * r_tilde > -1).float().mean() > 0.5
        # 0 < tanh' <= 1, so 1 + r_ii r~_ii tanh' >= min(1, 1 + r_ii r~_ii) > 0 for every input
        assert torch.isfinite(t.log_abs_det_jacobian(randn(1000, D, scale=10.0), None)).all()
        assert torch.equal(t.R, t.R.triu()) and torch.equal(t.R_tilde, t.R_tilde.triu())


@pytest.mark.parametrize("kind", KINDS)
def test_jacobian_determinant_positive_for_large_raw_parameters(kind):
    guide = make_guide(kind, num_flows=2, scale=3.0)
    for step in guide.flows[::2] if kind == "iaf" else guide.flows:  # skip the permutation
        for _ in range(5):
            t = step.condition(randn(H, scale=3.0))
            sign, _ = torch.linalg.slogdet(jacobian(t, randn(D, scale=5.0)))
            assert sign == 1


# ---- the guide's density ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batch_shape", [(), (4,), (2, 3)])
def test_guide_shapes(kind, batch_shape):
    guide = make_guide(kind)
    q = guide(randn(*batch_shape, H))
    assert q.batch_shape == batch_shape and q.event_shape == (D,) and q.has_rsample
    z = q.rsample()
    assert z.shape == batch_shape + (D,) and q.log_prob(z).shape == batch_shape
    z = q.rsample((5,))
    assert z.shape == (5,) + batch_shape + (D,) and q.log_prob(z).shape == (5,) + batch_shape


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("particles", [(), (2,)])
def test_log_prob_of_own_sample_is_base_density_minus_autograd_log_dets(kind, particles):
    """log q(z_K) = log q_0(z_0) - log|det dz_K/dz_0|, with z_0 redrawn from the same seed and
    the Jacobian of the composed single-datapoint map taken by autograd."""
    guide = make_guide(kind, num_flows=3)
    h = randn(3, H)
    q = guide(h).expand(particles + (3,))
    torch.manual_seed(1)
    z = q.rsample()
    log_q = q.log_prob(z)
    torch.manual_seed(1)
    z0 = guide.base(h).expand(particles + (3,)).rsample()
    for idx in np.ndindex(*particles, 3):
        n = idx[-1]
        f = composed_map(guide, h[n])
        assert torch.allclose(f(z0[idx]), z[idx], atol=1e-12)
        _, log_det = torch.linalg.slogdet(jacobian(f, z0[idx]))
        expected = guide.base(h[n]).log_prob(z0[idx]) - log_det
        assert torch.allclose(log_q[idx], expected, atol=1e-10)


def _set_rows(linear, rows, value):
    linear.weight[rows] = 0.0
    linear.bias[rows] = value


@pytest.mark.parametrize("kind", ["planar", "radial", "sylvester"])
def test_flow_with_zero_effect_parameters_is_the_base_density(kind):
    guide = build_guide(f"{kind}:3", H, D).double()
    with torch.no_grad():
        for step in guide.flows:
            lin = step.nn.linear
            if kind == "planar":  # u parallel to w with w.u = log(e - 1), so u_hat = 0
                c = randn(D)
                _set_rows(lin, slice(1 + D, 1 + 2 * D), c)
                _set_rows(lin, slice(1, 1 + D), math.log(math.e - 1) / c.dot(c) * c)
            elif kind == "radial":  # beta' = alpha', so beta = -alpha + softplus(alpha') = 0
                lin.weight[D + 1], lin.bias[D + 1] = lin.weight[D], lin.bias[D]
            else:  # A = 0 and tanh(r_diag) = 0, so R = 0
                _set_rows(lin, slice(0, D * D + D), 0.0)
    h = randn(4, H)
    q = guide(h).expand((2, 4))
    z = q.rsample()
    expected = guide.base(h).log_prob(z)
    assert torch.allclose(q.log_prob(z), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["planar", "radial", "sylvester"])
def test_flow_density_is_normalized(kind):
    """Importance identity E_q[p(z) / q(z)] = 1 for p = N(0, 2^2 I) on a 2-D latent.

    q_0 = N(0, 3^2 I) and every step moves z by a bounded amount, so q has heavier tails than
    p^2 and the weights have finite variance; the flow parameters are moderate so that the
    weights are light-tailed in practice too (checked, so that the 4-sigma test means something).
    """
    guide = make_guide(kind, num_flows=4, latent_dim=2, scale=0.3)
    with torch.no_grad():
        guide.base.linear.weight.zero_()
        guide.base.linear.bias.copy_(torch.tensor([0.0, 0.0, 1.0, 1.0]) * math.log(math.expm1(3.0)))
    q = guide(randn(1, H))
    num_samples = 200_000
    with torch.no_grad():
        torch.manual_seed(1)
        z = q.rsample((num_samples,))
        log_q = q.log_prob(z)
        torch.manual_seed(1)
        log_q0 = q.base_dist.log_prob(q.base_dist.rsample((num_samples,)))
    log_p = dist.Normal(torch.zeros(2, dtype=F64), 2.0).to_event(1).log_prob(z)
    w = (log_p - log_q).exp().squeeze(-1)
    assert (log_q - log_q0).abs().mean() > 0.05  # the flow changes the density noticeably
    assert w.max() < 1e-3 * w.sum()  # no single weight dominates
    assert abs(w.mean() - 1) < 4 * w.std() / math.sqrt(num_samples)


# ---- inside the VAE ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_vae_importance_weights_with_particles(kind, mnist_bin):
    torch.manual_seed(0)
    vae = zoo.build("vae", data_shape=(1, 28, 28), latent_dim=4, hidden=(32,), guide=f"{kind}:3")
    x = mnist_bin[0][:6]
    log_w = log_weights(vae.model, vae.guide, x, num_particles=5)
    assert log_w.shape == (5, 6) and torch.isfinite(log_w).all()
    with pyro.plate("particles", 5, dim=-2):
        site = poutine.trace(vae.guide).get_trace(x).nodes["z"]
    assert site["value"].shape == (5, 6, 4) and site["fn"].log_prob(site["value"]).shape == (5, 6)


def test_fit_reports_finite_elbo_and_kl(mnist_bin):
    torch.manual_seed(0)
    vae = zoo.build("vae", data_shape=(1, 28, 28), latent_dim=4, hidden=(32,), guide="sylvester:2")
    (record,) = zoo.fit(vae, mnist_bin[0][:100], epochs=1, batch_size=50, test=mnist_bin[1][:50], progress=False)
    assert all(math.isfinite(record[k]) for k in ("loss", "train_elbo", "train_kl", "test_elbo", "test_kl"))


@pytest.mark.parametrize("m_batch, z_shape", [((4,), (4,)), ((4,), (3, 4)), ((4,), (2, 3, 4)), ((1, 4), (3, 4)),
                                              ((4,), (3, 1)), ((), (5,))])
def test_sylvester_matvec_equals_broadcast_matmul(m_batch, z_shape):
    # matvec folds the draws into one batched product; it must equal the broadcasting M @ z
    from guides.sylvester import matvec
    torch.manual_seed(0)
    M, z = torch.randn(*m_batch, 6, 6, dtype=torch.float64), torch.randn(*z_shape, 6, dtype=torch.float64)
    expected = (M @ z.unsqueeze(-1)).squeeze(-1)
    got = matvec(M, z)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, rtol=0, atol=1e-12)
