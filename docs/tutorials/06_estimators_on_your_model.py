# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Compare ELBO estimators on your own Pyro model
#
# The zoo's estimators are `pyro.infer.ELBO` objects: they train *any* Pyro model/guide pair whose
# latent sites are local (inside the data plate), not only the zoo's models. Here we write a small
# model of our own, with two dependent latent sites per datapoint and an inner plate over
# features, and run every estimator on it with plain `pyro.infer.SVI`; then measure the
# importance-sampled log-likelihood with its PSIS k̂ diagnostic, and the guide gradient's
# signal-to-noise ratio as K grows. Last, a model with a **discrete** latent, where the exact answer
# is known by enumeration, trained by the score function, VIMCO and reweighted wake-sleep.
#
# **Settings.** `VAEZOO_TUTORIAL_QUICK=1` (the test suite's) shrinks the training.

# %%
import os

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import SVI
from torch import nn

import zoo
from zoo import plots

QUICK = os.environ.get("VAEZOO_TUTORIAL_QUICK") == "1"
STEPS = 150 if QUICK else 3000
print("quick test setting" if QUICK else "full setting", "-", STEPS, "SVI steps per estimator")

# %% [markdown]
# ## A model of our own
#
# Each datapoint $x_n \in \mathbb R^{D}$ has a 2-D factor $z_n$ and a noise level $s_n$ that
# depends on it:
#
# $$z_n \sim \mathcal N(0, I_2), \qquad \log s_n \mid z_n \sim \mathcal N(a^\top z_n, 0.3^2), \qquad
# x_{nd} \mid z_n, s_n \sim \mathcal N(w_d^\top z_n, s_n^2), \quad d = 1..D,$$
#
# with global weights $W$, $a$ learned as `pyro.param`s (point estimates). The guide is
# amortized: a small network maps $x_n$ to $q(z_n \mid x_n)$, then $q(\log s_n \mid z_n, x_n)$.

# %%
D = 6
g = torch.Generator().manual_seed(0)
true_w = torch.randn(D, 2, generator=g)
z_true = torch.randn(1000, 2, generator=g)
s_true = torch.exp(0.5 * z_true[:, :1] - 0.5 + 0.3 * torch.randn(1000, 1, generator=g))
data = z_true @ true_w.T + s_true * torch.randn(1000, D, generator=g)
train, test = data[:800], data[800:]


def model(x):
    w = pyro.param("w", 0.1 * torch.ones(D, 2))
    a = pyro.param("a", torch.zeros(2))
    with pyro.plate("data", x.shape[0], dim=-2):
        z = pyro.sample("z", dist.Normal(0.0, 1.0).expand([2]).to_event(1))  # (N, 1, 2)
        log_s = pyro.sample("log_s", dist.Normal((z * a).sum(-1), 0.3))  # (N, 1)
        with pyro.plate("features", D, dim=-1):
            pyro.sample("x", dist.Normal((z * w).sum(-1), log_s.exp()), obs=x)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.z = nn.Sequential(nn.Linear(D, 32), nn.Tanh(), nn.Linear(32, 4))
        self.s = nn.Sequential(nn.Linear(D + 2, 32), nn.Tanh(), nn.Linear(32, 2))


encoder = Encoder()


def guide(x):
    pyro.module("encoder", encoder)
    with pyro.plate("data", x.shape[0], dim=-2):
        loc, log_scale = encoder.z(x).unsqueeze(-2).chunk(2, -1)
        z = pyro.sample("z", dist.Normal(loc, log_scale.exp()).to_event(1))
        h = torch.cat([x.unsqueeze(-2).expand(z.shape[:-1] + (D,)), z], -1)
        m, log_v = encoder.s(h).unbind(-1)  # (N, 1) each
        pyro.sample("log_s", dist.Normal(m, log_v.exp()))


# %% [markdown]
# ## Every estimator, the same model
#
# `zoo.estimators.get(name, num_particles=K)` gives the estimator; `SVI` does the rest. The
# estimators: the ELBO (reparameterized; `elbo-stl` drops the score term, Roeder et al. 2017), the
# IWAE bound (Burda et al. 2016) with its DReG and STL gradients (Tucker et al. 2019), Rényi's
# α-bound (Li & Turner 2016), MIWAE and CIWAE (Rainforth et al. 2018), and the score function with
# a baseline. After training, every model is measured the same way: log p(x) by importance
# sampling with S = 1000 and its PSIS k̂ per test point (Yao et al. 2018: above 0.7 the estimate
# of that point is unreliable).

# %%
def reset(seed=0):
    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    for layer in encoder.modules():
        if isinstance(layer, nn.Linear):
            layer.reset_parameters()


RUNS = [("elbo", 1, {}), ("elbo-stl", 1, {}), ("iwae", 8, {}), ("iwae-dreg", 8, {}), ("iwae-stl", 8, {}),
        ("renyi", 8, {"alpha": 0.5}), ("miwae", 8, {"num_groups": 2}), ("ciwae", 8, {"beta": 0.5}),
        ("score", 8, {})]
rows = []
for name, k, options in RUNS:
    reset()
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 3e-3}), zoo.estimators.get(name, num_particles=k, **options))
    for _ in range(STEPS):
        svi.step(train[torch.randint(0, len(train), (100,))])
    r = zoo.log_likelihood(model, guide, test, num_samples=1000, psis=True).summary()
    rows.append((name, k, r))
    print(f"{name:9s} K={k}: test log p(x) {r['log_likelihood']:8.3f} +- {r['log_likelihood_stderr']:.3f}, "
          f"ELBO {r['elbo']:8.3f}, k-hat median {r['khat_median']:.2f}, > 0.7: {r['khat_frac_above_0.7']:.0%}")

# %% [markdown]
# The PSIS k̂ of the last model's test points: where it is above 0.7 the guide misses part of the
# posterior and the importance-sampled number for that point is not to be trusted.

# %%
plots.plot_khat_histogram(zoo.log_likelihood(model, guide, test, num_samples=1000, psis=True).khat,
                          title=f"PSIS k-hat per test point, guide trained by {rows[-1][0]}")

# %% [markdown]
# ## Gradient signal-to-noise against K
#
# Rainforth et al. (2018) show that with the IWAE bound the guide's gradient gets *noisier
# relative to its size* as K grows large (its SNR eventually falls like $1/\sqrt K$), while the
# model's improves; DReG (Tucker et al. 2019) removes the term responsible.
# `zoo.evaluation.gradient_stats` measures the SNR (the mean over parameters of |mean| / std over
# draws) on one fixed network and batch, so you can see where your model stands: compare the
# columns below.

# %%
reset()
svi = SVI(model, guide, pyro.optim.Adam({"lr": 3e-3}), zoo.estimators.get("elbo"))
for _ in range(STEPS):
    svi.step(train[torch.randint(0, len(train), (100,))])
batch = train[:20]
print(" K   iwae guide SNR   iwae-dreg guide SNR   iwae model SNR")
for k in (1, 4, 16, 64):
    snr = {name: zoo.evaluation.gradient_stats(model, guide, batch, estimator=name, estimator_options={
        "num_particles": k}, num_draws=50 if QUICK else 200, seed=0) for name in ("iwae", "iwae-dreg")}
    print(f"{k:2d}   {snr['iwae']['guide'].snr:14.3f}   {snr['iwae-dreg']['guide'].snr:19.3f}   "
          f"{snr['iwae']['model'].snr:14.3f}")

# %% [markdown]
# ## A discrete latent: score function, VIMCO, RWS, and the exact answer
#
# A mixture of three product-Bernoulli components over 8 binary features: $y_n \sim
# \operatorname{Cat}(\pi)$, $x_{nd} \mid y_n \sim \operatorname{Bernoulli}(\theta_{y_n d})$. The
# reparameterization trick does not apply to $y$ (the reparameterized estimators refuse it, naming
# the site); the score function with a baseline, VIMCO (Mnih & Rezende 2016) and reweighted
# wake-sleep (Bornschein & Bengio 2015) do. With three values per datapoint, log p(x) is a sum of
# three terms: `zoo.estimators.exact_log_marginal` enumerates it, and `elbo-enum` trains on the
# exact ELBO.

# %%
K_MIX, F = 3, 8
g = torch.Generator().manual_seed(1)
protos = torch.rand(K_MIX, F, generator=g).round() * 0.8 + 0.1
labels = torch.randint(0, K_MIX, (1000,), generator=g)
binary = torch.bernoulli(protos[labels], generator=g)
btrain, btest = binary[:800], binary[800:]
classifier = nn.Sequential(nn.Linear(F, 16), nn.Tanh(), nn.Linear(16, K_MIX))


def mixture(x):
    logits = pyro.param("logits", torch.zeros(K_MIX))
    theta = pyro.param("theta", torch.rand(K_MIX, F, generator=torch.Generator().manual_seed(2)),
                       constraint=dist.constraints.unit_interval)
    with pyro.plate("data", x.shape[0]):
        y = pyro.sample("y", dist.Categorical(logits=logits))
        pyro.sample("x", dist.Bernoulli(theta[y].clamp(1e-4, 1 - 1e-4)).to_event(1), obs=x)


def mixture_guide(x):
    pyro.module("classifier", classifier)
    with pyro.plate("data", x.shape[0]):
        pyro.sample("y", dist.Categorical(logits=classifier(x)))


try:  # the value of the bound is fine; its reparameterized gradient is not, and is refused
    SVI(mixture, mixture_guide, pyro.optim.Adam({"lr": 1e-2}), zoo.estimators.get("iwae", num_particles=5)).step(
        btrain[:10])
except ValueError as e:
    print("iwae:", e)

for name, k, options in [("score", 1, {"baseline": "learned", "data_shape": (F,)}), ("vimco", 5, {}), ("rws", 5, {}),
                         ("elbo-enum", 1, {})]:
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    for layer in classifier:
        if isinstance(layer, nn.Linear):
            layer.reset_parameters()
    estimator = zoo.estimators.get(name, num_particles=k, **options)
    svi = SVI(mixture, mixture_guide, pyro.optim.Adam({"lr": 1e-2}), estimator)
    for _ in range(STEPS):
        svi.step(btrain[torch.randint(0, len(btrain), (100,))])
    exact = zoo.estimators.exact_log_marginal(mixture, mixture_guide, btest).mean()
    sampled = zoo.log_likelihood(mixture, mixture_guide, btest, num_samples=500).summary()
    print(f"{name:9s} K={k}: exact test log p(x) {exact:.4f}; importance-sampled {sampled['log_likelihood']:.4f} "
          f"+- {sampled['log_likelihood_stderr']:.4f}")
