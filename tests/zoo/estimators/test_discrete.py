"""Discrete latents against enumeration: a sigmoid belief net with 3 + 2 binary units (32 joint
configurations), whose exact log p(x), ELBO, K = 2 bound and their gradients are written out
here by brute force over every configuration (``itertools.product``), apart from the zoo's
enumeration. The score function (each baseline), VIMCO, RWS and elbo-enum are checked against
them in mean (z-scores over many draws, and a biased baseline that the same check catches)."""
import itertools
import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine

import zoo
from zoo import estimators
from zoo.estimators import weights
from zoo.estimators.concrete import Relax
from zoo.estimators.score import ScoreFunctionELBO
from zoo.evaluation import gradient_stats, log_likelihood
from zoo.evaluation.gradients import parameter_groups

Z_MAX = 5.0  # the largest |z-score| of a component allowed for an unbiased estimator (~40 components)


@pytest.fixture
def sbn():
    torch.set_default_dtype(torch.float64)
    try:
        torch.manual_seed(0)
        m = zoo.build("sbn", layers=(3, 2), data_shape=(4,))
        for p in m.parameters():
            p.data.normal_(0, 1)
        yield m
    finally:
        torch.set_default_dtype(torch.float32)


@pytest.fixture
def x():
    return torch.tensor([[1.0, 0, 1, 1], [0, 0, 1, 0], [1, 1, 0, 0]], dtype=torch.float64)


def brute_force(m, x):
    """log p(x, h) and log q(h|x), each (N, 32), over every configuration h = (h1, h2)."""
    log_p, log_q = [], []
    for bits in itertools.product([0.0, 1.0], repeat=5):
        h1, h2 = torch.tensor(bits[:3]), torch.tensor(bits[3:])
        joint = m.prior().log_prob(h2) + m.conditionals[0](h2).log_prob(h1) + m.decode(h1).log_prob(x)
        q = m.layer_guide(0, x).log_prob(h1) + m.layer_guide(1, h1.expand(x.shape[0], 3)).log_prob(h2)
        log_p.append(joint.expand(x.shape[0]))
        log_q.append(q)
    return torch.stack(log_p, -1), torch.stack(log_q, -1)


def exact_elbo(m, x):
    log_p, log_q = brute_force(m, x)
    return (log_q.exp() * (log_p - log_q)).sum(-1)


def exact_l2(m, x):
    """E over h, h' ~ q i.i.d. of log (w + w') / 2, per datapoint."""
    log_p, log_q = brute_force(m, x)
    log_w = log_p - log_q
    pair_q = log_q.unsqueeze(-1) + log_q.unsqueeze(-2)
    pair_l = torch.logaddexp(log_w.unsqueeze(-1), log_w.unsqueeze(-2)) - math.log(2)
    return (pair_q.exp() * pair_l).sum((-1, -2))


def exact_rws_guide_update(m, x):
    """A scalar whose gradient for the guide is E[sum_k w~_k grad log q(h_k|x)] at K = 2."""
    log_p, log_q = brute_force(m, x)
    log_w = (log_p - log_q).detach()
    pair_q = (log_q.unsqueeze(-1) + log_q.unsqueeze(-2)).detach().exp()
    w1 = torch.sigmoid(log_w.unsqueeze(-1) - log_w.unsqueeze(-2))  # w / (w + w')
    return (pair_q * (w1 * log_q.unsqueeze(-1) + (1 - w1) * log_q.unsqueeze(-2))).sum()


def flat_grad(value, params):
    grads = torch.autograd.grad(value, params, allow_unused=True, retain_graph=True)
    return torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params)])


def groups(m):
    """(model parameters, guide parameters), in the order gradient_stats flattens them."""
    found = parameter_groups(m.model, m.guide, torch.zeros(1, 4, dtype=torch.float64))
    assert set(found) == {"model", "guide"}
    return list(found["model"].values()), list(found["guide"].values())


def z_of(stats, reference):
    se = (stats.var / stats.num_draws).sqrt()
    keep = se > 0
    return ((stats.mean - reference)[keep] / se[keep]).abs()


def check_mean(m, x, estimator, reference_model, reference_guide, num_draws=3000, seed=0):
    """|z| of every gradient component of ``estimator`` (the loss's, so -grad of the objective)."""
    stats = gradient_stats(m.model, m.guide, x, estimator=estimator, num_draws=num_draws, seed=seed)
    return z_of(stats["model"], -reference_model), z_of(stats["guide"], -reference_guide)


# ---- exact values ------------------------------------------------------------------------


def test_enumerated_log_marginal_and_elbo_match_brute_force(sbn, x):
    log_p, _ = brute_force(sbn, x)
    torch.testing.assert_close(estimators.exact_log_marginal(sbn.model, sbn.guide, x), log_p.logsumexp(-1))
    enum = estimators.get("elbo-enum")
    torch.testing.assert_close(enum.per_datapoint(sbn.model, sbn.guide, x), exact_elbo(sbn, x).detach())
    assert enum.loss(sbn.model, sbn.guide, x) == pytest.approx(-exact_elbo(sbn, x).sum().item(), rel=1e-12)


def test_elbo_enum_gradient_is_the_exact_gradient(sbn, x):
    params = list(sbn.parameters())
    loss = estimators.get("elbo-enum").differentiable_loss(sbn.model, sbn.guide, x)
    torch.testing.assert_close(flat_grad(loss, params), flat_grad(-exact_elbo(sbn, x).sum(), params))


def test_importance_sampled_log_likelihood_within_its_error(sbn, x):
    r = log_likelihood(sbn.model, sbn.guide, x, num_samples=4000, seed=0)
    exact = estimators.exact_log_marginal(sbn.model, sbn.guide, x)
    assert ((r.log_px - exact).abs() < 4 * r.stderr + 1e-3).all(), (r.log_px, exact, r.stderr)
    assert (r.log_px <= exact + 4 * r.stderr).all()


@pytest.mark.parametrize("name, options", [("vimco", {}), ("rws", {}), ("iwae", {})])
def test_the_k_sample_bounds_report_l_k(sbn, x, name, options):
    """vimco and rws report L_K; at K = 2 its mean over draws is the exact E[L_2]."""
    est = estimators.get(name, num_particles=2, **options)
    if name == "iwae":  # reparameterized: refused on binary units, naming the site
        with pytest.raises(ValueError, match=r"guide site 'h1' \(Bernoulli\) has no reparameterized sampler; use "
                                             r"'score', 'vimco' or 'rws'"):
            est.differentiable_loss(sbn.model, sbn.guide, x)
        return
    pyro.set_rng_seed(0)
    draws = torch.stack([est.per_datapoint(sbn.model, sbn.guide, x) for _ in range(3000)])
    se = draws.std(0) / math.sqrt(3000)
    assert ((draws.mean(0) - exact_l2(sbn, x).detach()).abs() < 4 * se).all()


# ---- gradients in mean -------------------------------------------------------------------


def exact_elbo_grads(m, x):
    model, guide = groups(m)
    value = exact_elbo(m, x).sum()
    return flat_grad(value, model), flat_grad(value, guide)


@pytest.mark.slow  # 3000 gradient draws, ~5-10 s
@pytest.mark.parametrize("baseline, k", [("none", 1), ("average", 1), ("leave-one-out", 2), ("learned", 1)])
def test_score_gradients_are_unbiased(sbn, x, baseline, k):
    est = estimators.get("score", num_particles=k, baseline=baseline, data_shape=(4,))
    z_model, z_guide = check_mean(sbn, x, est, *exact_elbo_grads(sbn, x))
    assert z_model.max() < Z_MAX and z_guide.max() < Z_MAX, (z_model.max(), z_guide.max())


@pytest.mark.slow  # 3000 gradient draws, ~5-10 s
def test_a_baseline_that_depends_on_the_sample_is_caught(sbn, x):
    """The control: b = f / 2 depends on h, so the score term loses half its mean."""

    class Biased(ScoreFunctionELBO):
        def _baseline(self, f, args):
            return 0.5 * f, f.new_zeros(())

    z_model, z_guide = check_mean(sbn, x, Biased(1, baseline="none"), *exact_elbo_grads(sbn, x))
    assert z_model.max() < Z_MAX  # the model's gradient does not go through the score term
    assert z_guide.max() > 2 * Z_MAX


def test_nvil_variance_normalization_scales_the_guide_step(sbn, x):
    """normalize=True divides the centred signal by max(1, sqrt(v)), v the signal's mean square at
    the first step: on the same draws, the score part of the guide's gradient shrinks by that
    factor, the direct part (at zero signal) and the model's gradient stay."""

    class ZeroSignal(ScoreFunctionELBO):
        def _baseline(self, f, args):
            return f, f.new_zeros(())

    model, guide = groups(sbn)
    grads = []
    for est in (estimators.get("score", baseline="average"), estimators.get("score", baseline="average",
                normalize=True), ZeroSignal(1, baseline="none")):
        pyro.set_rng_seed(3)
        grads.append(flat_grad(est.differentiable_loss(sbn.model, sbn.guide, x), model + guide))
        if getattr(est, "normalize", False):
            factor = max(1.0, est.signal_var.sqrt().item())
            assert "signal_var" in est.state_dict()
    plain, normed, direct = grads
    n = sum(p.numel() for p in model)
    assert factor > 1.5  # the check has something to scale
    torch.testing.assert_close(normed[:n], plain[:n])
    torch.testing.assert_close(normed[n:], direct[n:] + (plain[n:] - direct[n:]) / factor)
    assert "signal_var" not in estimators.get("score").state_dict()


def test_vimco_gradient_is_unbiased_for_l2(sbn, x):
    model, guide = groups(sbn)
    value = exact_l2(sbn, x).sum()
    z_model, z_guide = check_mean(sbn, x, estimators.get("vimco", num_particles=2),
                                  flat_grad(value, model), flat_grad(value, guide))
    assert z_model.max() < Z_MAX and z_guide.max() < Z_MAX, (z_model.max(), z_guide.max())


@pytest.mark.slow  # 3000 gradient draws, ~5-10 s
def test_rws_updates_match_their_exact_expectation_at_k2(sbn, x):
    """The model's by grad L_2; the guide's wake update E[sum_k w~_k grad log q(h_k|x)]."""
    model, guide = groups(sbn)
    z_model, z_guide = check_mean(sbn, x, estimators.get("rws", num_particles=2),
                                  flat_grad(exact_l2(sbn, x).sum(), model),
                                  flat_grad(exact_rws_guide_update(sbn, x), guide))
    assert z_model.max() < Z_MAX and z_guide.max() < Z_MAX, (z_model.max(), z_guide.max())


def test_rws_sleep_phase_fits_the_guide_to_dreams(sbn, x):
    """The sleep update is grad_phi log q(h'|x') at a dream (x', h') ~ p: replayed by hand."""
    est = estimators.get("rws", num_particles=2, phase="sleep")
    _, guide = groups(sbn)
    pyro.set_rng_seed(5)
    g = flat_grad(est.differentiable_loss(sbn.model, sbn.guide, x), guide)
    pyro.set_rng_seed(5)
    weights.run(sbn.model, sbn.guide, (x,), {}, 2, plates=est.plates(sbn.model, sbn.guide, (x,), {}))  # same draws
    dream = poutine.trace(poutine.uncondition(sbn.model)).get_trace(x)
    xd, h1, h2 = (dream.nodes[s]["value"] for s in ("x", "h1", "h2"))
    sleep = sbn.layer_guide(0, xd).log_prob(h1).sum() + sbn.layer_guide(1, h1).log_prob(h2).sum()
    torch.testing.assert_close(g, -flat_grad(sleep, guide))


# ---- concrete ----------------------------------------------------------------------------


def test_concrete_at_a_low_temperature_approaches_the_discrete_elbo(sbn, x):
    est = estimators.get("concrete")
    plates = est.plates(sbn.model, sbn.guide, (x,), {})
    exact = exact_elbo(sbn, x).sum().item()
    gaps = {}
    pyro.set_rng_seed(0)
    for tau in (1.0, 0.01):
        relax = Relax(torch.tensor(tau), "discrete")
        with torch.no_grad():
            tr = weights.run(relax(sbn.model), relax(sbn.guide), (x,), {}, 20000, plates=plates)
            total = (weights.log_density(tr.model, tr) - weights.log_density(tr.guide, tr)).sum(-1)
        se = total.std().item() / math.sqrt(20000)
        gaps[tau] = (abs(total.mean().item() - exact), se)
    assert gaps[0.01][0] < 4 * gaps[0.01][1] + 0.05
    assert gaps[1.0][0] > 20 * gaps[1.0][1]  # at tau = 1 the relaxed objective is another number


def test_concrete_trains_the_relaxed_model_and_reports_the_discrete_bound(sbn, x):
    est = estimators.get("concrete", num_particles=3, temperature=0.5, anneal_rate=0.1, min_temperature=0.3)
    iwae_like = estimators.get("vimco", num_particles=3)
    pyro.set_rng_seed(1)
    reported = est.loss(sbn.model, sbn.guide, x)
    pyro.set_rng_seed(1)
    assert reported == pytest.approx(iwae_like.loss(sbn.model, sbn.guide, x), rel=1e-12)  # the discrete L_3
    loss = est.differentiable_loss(sbn.model, sbn.guide, x)
    grads = torch.autograd.grad(loss, list(sbn.parameters()), allow_unused=True)
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert int(est.num_steps) == 1 and est.current_temperature() == pytest.approx(0.5 * math.exp(-0.1))
    est.num_steps.fill_(100)
    assert est.current_temperature() == 0.3 and "num_steps" in est.state_dict()


# ---- one-hot and integer sites, and a model with discrete and continuous latents -------------


def mixture(one_hot: bool):
    locs = torch.tensor([-2.0, 0.5, 3.0], dtype=torch.float64)
    logits = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64)

    def model(x):
        with pyro.plate("data", x.shape[0]):
            if one_hot:
                y = pyro.sample("y", dist.OneHotCategorical(logits=logits))
                loc = (y * locs).sum(-1)
            else:
                y = pyro.sample("y", dist.Categorical(logits=logits))
                loc = locs[y.long()]
            pyro.sample("x", dist.Normal(loc, 1.0), obs=x)

    def guide(x):
        with pyro.plate("data", x.shape[0]):
            cls = dist.OneHotCategorical if one_hot else dist.Categorical
            pyro.sample("y", cls(logits=torch.zeros(x.shape[0], 3, dtype=torch.float64)))

    exact = lambda x: (logits.log_softmax(-1) + dist.Normal(locs, 1.0).log_prob(x.unsqueeze(-1))).logsumexp(-1)  # noqa
    return model, guide, exact


@pytest.mark.parametrize("one_hot", [True, False], ids=["one-hot", "categorical"])
def test_enumeration_of_categorical_sites(one_hot):
    model, guide, exact = mixture(one_hot)
    x = torch.tensor([-1.0, 0.2, 2.5, 4.0], dtype=torch.float64)
    torch.testing.assert_close(estimators.exact_log_marginal(model, guide, x), exact(x))


def test_concrete_refuses_an_integer_categorical_site():
    model, guide, _ = mixture(one_hot=False)
    with pytest.raises(ValueError, match="site 'y' is a Categorical .*write it as OneHotCategorical"):
        estimators.get("concrete").differentiable_loss(model, guide, torch.zeros(2, dtype=torch.float64))


def m2_like():
    """y ~ Cat (one-hot), z | y ~ N(m_y, 1), x | z ~ N(z, 0.5): a discrete and a continuous latent."""
    torch.manual_seed(0)
    params = {"a": torch.randn(3, dtype=torch.float64, requires_grad=True),
              "m": torch.randn(3, dtype=torch.float64, requires_grad=True),
              "b": torch.randn(3, dtype=torch.float64, requires_grad=True)}

    def model(x):
        with pyro.plate("data", x.shape[0]):
            y = pyro.sample("y", dist.OneHotCategorical(logits=torch.zeros(3, dtype=torch.float64)))
            z = pyro.sample("z", dist.Normal((y * params["m"]).sum(-1), 1.0))
            pyro.sample("x", dist.Normal(z, 0.5), obs=x)

    def guide(x):
        with pyro.plate("data", x.shape[0]):
            y = pyro.sample("y", dist.OneHotCategorical(logits=params["a"] * x.unsqueeze(-1)),
                            infer={"enumerate": "parallel"})
            pyro.sample("z", dist.Normal(0.5 * x + (y * params["b"]).sum(-1), 0.6))

    return model, guide, params


@pytest.mark.slow  # 3000 gradient draws, ~5-10 s
def test_discrete_and_continuous_latents_score_and_vimco_against_enumeration():
    """Score (all sites, or with z's path kept) agrees in mean with Pyro's TraceEnum_ELBO (y summed
    out, z reparameterized);
    vimco and rws run on the mixed model with finite gradients, the reparameterized refuse y."""
    model, guide, params = m2_like()
    x = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    ps = list(params.values())
    pyro.set_rng_seed(0)
    enum = pyro.infer.TraceEnum_ELBO(num_particles=20000, vectorize_particles=True, max_plate_nesting=1)
    reference = flat_grad(enum.differentiable_loss(model, guide, x), ps)
    variances = {}
    for paths in (False, True):  # score on every site, or the path of z kept
        est = estimators.get("score", num_particles=2, paths=paths)
        pyro.set_rng_seed(1)
        draws = torch.stack([flat_grad(est.differentiable_loss(model, guide, x), ps) for _ in range(3000)])
        z = (draws.mean(0) - reference).abs() / (draws.std(0) / math.sqrt(3000))
        assert z.max() < Z_MAX, (paths, z)
        variances[paths] = draws.var(0)
    assert variances[True][6:].sum() < variances[False][6:].sum()  # z's guide parameter b: the path helps
    for name in ("vimco", "rws"):
        g = flat_grad(estimators.get(name, num_particles=3).differentiable_loss(model, guide, x), ps)
        assert torch.isfinite(g).all() and g.abs().sum() > 0
    with pytest.raises(ValueError, match=r"guide site 'y' \(OneHotCategorical\) has no reparameterized"):
        estimators.get("iwae-dreg", num_particles=2).differentiable_loss(model, guide, x)


# ---- bad input ---------------------------------------------------------------------------


def test_bad_input_is_refused_in_one_line(sbn, x):
    with pytest.raises(ValueError, match="vimco needs num_particles >= 2"):
        estimators.get("vimco", num_particles=1)
    with pytest.raises(ValueError, match="temperature must be a positive finite number, got 0"):
        estimators.get("concrete", temperature=0)
    with pytest.raises(ValueError, match="temperature must be a positive finite number, got -1"):
        estimators.get("concrete", temperature=-1.0)
    with pytest.raises(ValueError, match="unknown phase 'dream'"):
        estimators.get("rws", phase="dream")
    with pytest.raises(ValueError, match="elbo-enum draws nothing"):
        estimators.get("elbo-enum", num_particles=5)
    big = zoo.build("sbn")
    xb = torch.zeros(2, 1, 28, 28)
    with pytest.raises(ValueError, match=r"elbo-enum would sum over 2\^200 joint configurations per datapoint "
                                         r"\(h1: 2\^200\), more than max_configurations=4096: use 'score', 'vimco'"):
        estimators.get("elbo-enum").loss(big.model, big.guide, xb)
    with pytest.raises(ValueError, match=r"train must be binary \(values in \{0, 1\}\) for the bernoulli likelihood"):
        zoo.fit(big, torch.full((4, 1, 28, 28), 0.5), epochs=1, estimator="vimco", num_particles=2, progress=False)
