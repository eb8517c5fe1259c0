"""The estimators on any Pyro model with local latents, against exact values.

The model is a chain of linear-Gaussian layers z2 -> z1 -> x (``zoo.LinearGaussianChain``): two
latent sites, the model's z1 depending on z2 and the guide's z2 on z1, with the data plate at
dim -1, or at dim -2 with the coordinates of x in an inner plate. Its exact posterior factorizes
as p(z1|x) p(z2|z1), which the guide family holds: there every log-weight is log p(x).
"""
import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine

import zoo
from zoo import estimators
from zoo.estimators import log_weights
from zoo.evaluation import gradient_stats, log_likelihood

LAYOUTS = {"data plate at dim -1": False, "data plate at dim -2, an inner plate": True}
BOUNDS = ["elbo", "elbo-stl", "score", "iwae", "iwae-dreg", "iwae-stl", "renyi", "miwae", "ciwae"]


@pytest.fixture(params=list(LAYOUTS), ids=list(LAYOUTS))
def chain(request):
    torch.set_default_dtype(torch.float64)
    try:
        yield zoo.LinearGaussianChain(data_dim=4, z1_dim=3, z2_dim=2, inner_plate=LAYOUTS[request.param])
    finally:
        torch.set_default_dtype(torch.float32)


@pytest.mark.parametrize("name", BOUNDS)
def test_at_the_exact_posterior_every_bound_is_log_p_x(chain, name):
    x = chain.sample_data(6, seed=1)
    chain.set_exact_posterior()
    exact = chain.log_marginal(x)
    est = estimators.get(name, num_particles=4)
    assert -est.loss(chain.model, chain.guide, x) == pytest.approx(exact.sum().item(), abs=1e-9)
    if hasattr(est, "per_datapoint"):
        torch.testing.assert_close(est.per_datapoint(chain.model, chain.guide, x), exact, rtol=0, atol=1e-10)
    torch.testing.assert_close(log_weights(chain.model, chain.guide, x, num_particles=5), exact.expand(5, 6),
                               rtol=0, atol=1e-10)


def test_at_the_exact_posterior_the_importance_sampled_log_p_x_is_exact(chain):
    x = chain.sample_data(7, seed=2)
    chain.set_exact_posterior()
    r = log_likelihood(chain.model, chain.guide, x, num_samples=300, batch_size=3, chunk_size=70, psis=True)
    torch.testing.assert_close(r.log_px, chain.log_marginal(x), rtol=0, atol=1e-10)
    assert r.stderr.max() < 1e-6 and (r.ess > 299.9).all()


def test_with_a_perturbed_guide_the_bounds_order_below_log_p_x(chain):
    """ELBO < IWAE-5 < IWAE-50 < log p(x), their means over 300 draws 3 standard errors apart; the
    importance-sampled estimate (S = 5000) within 4 of its standard errors of log p(x)."""
    x = chain.sample_data(8, seed=3)
    chain.set_exact_posterior()
    chain.perturb(0.03, seed=0)  # the weights keep a finite variance: PSIS k-hat 0.52 at most here
    exact = chain.log_marginal(x).sum().item()
    torch.manual_seed(0)
    means, errors = [], []
    for k in (1, 5, 50):
        est = estimators.get("iwae", num_particles=k)
        draws = torch.tensor([-est.loss(chain.model, chain.guide, x) for _ in range(300)])
        means.append(draws.mean().item())
        errors.append(draws.std().item() / math.sqrt(len(draws)))
    bounds = means + [exact]
    for (lo, se_lo), (hi, se_hi) in zip(zip(bounds, errors + [0.0]), zip(bounds[1:], errors[1:] + [0.0])):
        assert hi - lo > 3 * math.hypot(se_lo, se_hi), (bounds, errors)
    r = log_likelihood(chain.model, chain.guide, x, num_samples=5000, seed=1)
    se = r.stderr.pow(2).sum().sqrt().item()
    assert abs(r.log_px.sum().item() - exact) < 4 * se + 1e-3, (r.log_px.sum().item(), exact, se)


@pytest.mark.slow  # 400 gradient draws of each
@pytest.mark.parametrize("path, plain, k", [("iwae-dreg", "iwae", 5), ("elbo-stl", "elbo", 1)])
def test_path_gradients_are_unbiased_for_the_reparameterized_ones(chain, path, plain, k):
    """The guide gradient of DReG (STL) has the mean of IWAE's (the ELBO's), each over 400 draws:
    every component's difference within 4.5 standard errors."""
    x = chain.sample_data(5, seed=4)
    chain.set_exact_posterior()
    chain.perturb(0.3, seed=1)
    n = 400
    a = gradient_stats(chain.model, chain.guide, x, estimator=path, num_draws=n, seed=1,
                       estimator_options=dict(num_particles=k))["guide"]
    b = gradient_stats(chain.model, chain.guide, x, estimator=plain, num_draws=n, seed=2,
                       estimator_options=dict(num_particles=k))["guide"]
    z = (a.mean - b.mean).abs() / ((a.var + b.var) / n).sqrt().clamp(min=1e-12)
    assert z.max() < 4.5 and b.mean.abs().max() > 1e-2  # and the gradient is not zero to begin with


# ---- more than the data, and naming the plate -------------------------------------------


def masked(chain: zoo.LinearGaussianChain):
    """The inner-plate chain as ``model(x, mask)``: unobserved coordinates masked out."""

    def model(x, mask):
        with pyro.plate("data", x.shape[0], dim=-2):
            z2 = pyro.sample("z2", dist.Normal(torch.zeros(2), 1.0).to_event(1))
            z1 = pyro.sample("z1", dist.Normal(z2 @ chain.A.T + chain.a, chain.s1).to_event(1))
            with pyro.plate("features", x.shape[-1], dim=-1):
                loc = (z1 @ chain.B.T + chain.b).squeeze(-2)
                pyro.sample("x", dist.Normal(loc, chain.s2).mask(mask), obs=x)

    def guide(x, mask):
        chain.guide(x)

    return model, guide


def test_models_that_take_more_than_the_data_are_estimated_and_batched():
    torch.set_default_dtype(torch.float64)
    try:
        chain = zoo.LinearGaussianChain(inner_plate=True)
        chain.set_exact_posterior()
        model, guide = masked(chain)
        x = chain.sample_data(10, seed=5)
        mask = torch.rand(10, 4, generator=torch.Generator().manual_seed(0)) > 0.3
        mask[:, 0] = True
        r = log_likelihood(model, guide, x, mask, num_samples=3000, batch_size=4, seed=2)
        marginal = chain.marginal()
        exact = torch.stack([dist.MultivariateNormal(marginal.loc[m], marginal.covariance_matrix[m][:, m])
                             .log_prob(xi[m]) for xi, m in zip(x, mask)])
        assert (r.log_px - exact).abs().max() < 5 * r.stderr.max() + 1e-3
        full = log_likelihood(model, guide, x, torch.ones_like(mask), num_samples=50)
        torch.testing.assert_close(full.log_px, chain.log_marginal(x), rtol=0, atol=1e-9)  # all observed: exact
        stats = gradient_stats(model, guide, x, mask, estimator="iwae", num_draws=3,
                               estimator_options=dict(num_particles=2))
        assert set(stats) == {"guide"}  # the model's weights are not Pyro parameters of this model function
    finally:
        torch.set_default_dtype(torch.float32)


def test_the_data_plate_can_be_named():
    def program(x):
        with pyro.plate("features", x.shape[1], dim=-1):
            with pyro.plate("data", x.shape[0], dim=-2):
                z = pyro.sample("z", dist.Normal(0.0, 1.0))
                pyro.sample("x", dist.Normal(z, 1.0), obs=x)

    def guide(x):
        with pyro.plate("features", x.shape[1], dim=-1), pyro.plate("data", x.shape[0], dim=-2):
            pyro.sample("z", dist.Normal(x / 2, math.sqrt(0.5)))  # the exact posterior of each coordinate

    x = torch.randn(5, 3)
    exact = dist.Normal(0.0, math.sqrt(2.0)).log_prob(x).sum(-1)
    # the observed site's outermost plate is the features': one term per feature, refused as datapoints
    per_feature = log_weights(program, guide, x, num_particles=2)
    assert per_feature.shape == (2, 3)
    torch.testing.assert_close(log_weights(program, guide, x, num_particles=2, data_plate="data"), exact.expand(2, 5))
    est = estimators.get("iwae", num_particles=3, data_plate="data")
    torch.testing.assert_close(est.per_datapoint(program, guide, x), exact)
    with pytest.raises(ValueError, match="data_plate='rows': the model has no vectorized plate of that name"):
        log_weights(program, guide, x, data_plate="rows")


# ---- refused in one line ----------------------------------------------------------------


def test_a_global_latent_is_refused_in_one_line(chain):
    def model(x):
        pyro.sample("w", dist.Normal(0.0, 1.0))
        chain.model(x)

    def guide(x):
        pyro.sample("w", dist.Normal(0.0, 1.0))
        chain.guide(x)

    x = chain.sample_data(3)
    for call in (lambda: log_weights(model, guide, x), lambda: log_likelihood(model, guide, x, num_samples=4),
                 lambda: estimators.get("iwae", num_particles=2).loss(model, guide, x)):
        with pytest.raises(ValueError) as e:
            call()
        message = str(e.value)
        assert "site 'w' is outside the data plate 'data': a global latent" in message and "\n" not in message


def test_a_guide_that_misses_a_site_is_refused_naming_it(chain):
    def guide(x):
        with pyro.plate("data", x.shape[0], dim=-2 if chain.inner_plate else -1):
            pyro.sample("z1", dist.Normal(torch.zeros(3), 1.0).to_event(1))

    with pytest.raises(ValueError, match="model site 'z2' is latent but the guide does not sample it; the guide "
                                         "samples z1"):
        estimators.get("iwae", num_particles=2).loss(chain.model, guide, chain.sample_data(3))


def test_elbo_kl_refuses_a_guide_that_samples_in_another_order(chain):
    with pytest.raises(ValueError, match="the model samples z2, z1, the guide z1, z2: use 'elbo'"):
        estimators.get("elbo-kl").loss(chain.model, chain.guide, chain.sample_data(3))


def test_the_particles_sit_left_of_the_deepest_plate(chain):
    x = chain.sample_data(3)
    est = estimators.get("iwae", num_particles=2)
    traces = est.run(chain.model, chain.guide, (x,), {})
    deepest = 2 if chain.inner_plate else 1
    assert traces.particle_dim == -(deepest + 1) and traces.data_dim == (-2 if chain.inner_plate else -1)
    assert traces.guide.nodes["z1"]["value"].shape[:-1] == ((2, 3, 1) if chain.inner_plate else (2, 3))
    given = estimators.get("iwae", num_particles=2, max_plate_nesting=deepest + 1)  # a dim further left works too
    assert given.run(chain.model, chain.guide, (x,), {}).particle_dim == -(deepest + 2)
    with poutine.block():
        assert -given.loss(chain.model, chain.guide, x) < 0


def test_a_plate_whose_size_does_not_match_the_data_is_refused_in_one_line():
    def model(x):
        with pyro.plate("data", 4):
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            pyro.sample("x", dist.Normal(z, 1.0), obs=x)

    def guide(x):
        with pyro.plate("data", 4):
            pyro.sample("z", dist.Normal(0.0, 1.0))

    with pytest.raises(ValueError, match=r"observed site 'x' holds 3 datapoints at the data plate's dim -1 \(value "
                                         r"of shape \(3,\)\), but the plate 'data' has size 4"):
        estimators.validate(estimators.get("iwae", num_particles=2), model, guide, torch.zeros(3))
