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
# # Estimators and EM
#
# Score function versus reparameterization, IWAE bounds, Gaussian mixtures, posterior collapse, β on CIFAR-10.
#
# Five short lessons, each measured rather than asserted:
#
# 1. the **score-function** (log-derivative) gradient of the ELBO has far more variance than the
#    **reparameterization** gradient;
# 2. the **IWAE bounds** $\mathcal L_K$ rise with K towards log p(x), here known exactly;
# 3. **EM** for a Gaussian mixture, against scikit-learn;
# 4. a VAE on **2-D Gaussian data**: when the decoder alone can fit the data, the latent code is
#    ignored (posterior collapse);
# 5. a **convolutional VAE with β** on the CIFAR-10 subset.
#
# **Settings.** `VAEZOO_TUTORIAL_QUICK=1` (the test suite's) shrinks every run. Part 3 compares
# with scikit-learn (`pip install scikit-learn`); part 5 reads the CIFAR-10 subset from the data
# root (`$VAEZOO_DATA`, see [Data](../data.md)).

# %%
import math
import os

import torch

import zoo
from zoo import plots
from zoo.gmm import plots as gmm_plots

QUICK = os.environ.get("VAEZOO_TUTORIAL_QUICK") == "1"
print("quick test setting" if QUICK else "full setting")

# %% [markdown]
# ## 1. Score function versus reparameterization
#
# The ELBO's gradient with respect to the guide's parameters φ has two classic estimators. The
# **score function** (REINFORCE) uses $\nabla_\phi q = q \nabla_\phi \log q$:
#
# $$\nabla_\phi \mathcal L = \mathbb E_{q}\big[(\log p(x, z) - \log q_\phi(z \mid x))\,
# \nabla_\phi \log q_\phi(z \mid x)\big],$$
#
# which needs only samples and log-densities, but multiplies a large, sign-changing number (the
# log-weight, hundreds of nats) by a score whose mean is zero: high variance. The
# **reparameterization** $z = \mu_\phi(x) + \sigma_\phi(x) \varepsilon$, $\varepsilon \sim \mathcal N(0, I)$,
# moves φ inside the expectation and differentiates through the sample. We measure both on the
# same network and the same 20 digits: variance and signal-to-noise ratio (|mean| / std, per
# component) of the guide's gradient over 100 draws.

# %%
ds = zoo.data.load("mnist5k", binarize="static", seed=0)
torch.manual_seed(0)
vae = zoo.build("vae", data_shape=(1, 28, 28), latent_dim=10, hidden=(200,))
zoo.fit(vae, ds.train[:1000], epochs=2 if QUICK else 10, progress=False)  # a network past its first steps
x = ds.test[:20]
for name in ("score", "elbo"):
    stats = zoo.evaluation.gradient_stats(vae.model, vae.guide, x, estimator=name, num_draws=100, seed=0)["guide"]
    print(f"{name:5s}: guide gradient variance {stats.var.mean():10.3f}, SNR {stats.snr:.3f}")

# %% [markdown]
# ## 2. IWAE bounds approach log p(x)
#
# $$\mathcal L_K = \mathbb E\left[\log \frac1K \sum_{k=1}^K \frac{p(x, z_k)}{q(z_k \mid x)}\right], \qquad
# \mathcal L_1 = \text{ELBO} \le \mathcal L_K \le \mathcal L_{K+1} \le \log p(x)$$
#
# (Burda et al. 2016). On probabilistic PCA (`zoo.LinearGaussian`) log p(x) is known in closed
# form, so we can watch the bounds close in on it, with a guide deliberately away from the
# posterior.

# %%
ppca = zoo.LinearGaussian(data_dim=8, latent_dim=3, noise_scale=0.5, seed=0)
data = ppca.sample_data(200, seed=1)
exact = ppca.log_marginal(data).mean().item()
print(f"exact log p(x) = {exact:.3f} nats per point")
for k in (1, 5, 50, 500):
    estimator = zoo.estimators.get("iwae", num_particles=k)
    bound = sum(-estimator.loss(ppca.model, ppca.guide, data) for _ in range(5)) / 5 / len(data)
    print(f"K = {k:3d}: L_K = {bound:.3f}   (log p(x) - L_K = {exact - bound:.3f})")

# %% [markdown]
# With the guide set to the exact posterior every importance weight equals p(x): every bound *is*
# log p(x), with zero variance.

# %%
ppca.set_exact_posterior()
print(f"L_1 with the exact posterior: {-zoo.estimators.get('elbo').loss(ppca.model, ppca.guide, data) / len(data):.3f}")

# %% [markdown]
# ## 3. EM for a Gaussian mixture, against scikit-learn
#
# A mixture $p(x) = \sum_k \pi_k \mathcal N(x \mid \mu_k, \Sigma_k)$; EM alternates the E-step,
# responsibilities $r_{nk} \propto \pi_k \mathcal N(x_n \mid \mu_k, \Sigma_k)$, and the M-step,
# $\pi_k = N_k / N$, $\mu_k = \sum_n r_{nk} x_n / N_k$,
# $\Sigma_k = \sum_n r_{nk} (x_n - \mu_k)(x_n - \mu_k)^\top / N_k$, $N_k = \sum_n r_{nk}$; the
# log-likelihood never decreases. `zoo.GaussianMixtureEM` has scikit-learn's API, in torch.

# %%
g = torch.Generator().manual_seed(0)
centres = torch.tensor([[0.0, 0.0], [4.0, 4.0], [-4.0, 3.0]])
blobs = torch.cat([c + torch.randn(300, 2, generator=g) @ torch.tensor([[1.0, 0.5], [0.0, 0.7]]) for c in centres])
gmm = zoo.GaussianMixtureEM(n_components=3, covariance_type="full", random_state=0).fit(blobs)
print(f"zoo: mean log-likelihood {gmm.score(blobs):.4f} after {gmm.n_iter_} iterations")
try:
    from sklearn.mixture import GaussianMixture

    sk = GaussianMixture(n_components=3, covariance_type="full", random_state=0).fit(blobs.numpy())
    print(f"scikit-learn: {sk.score(blobs.numpy()):.4f} after {sk.n_iter_} iterations")
except ImportError:
    print("scikit-learn is not installed: pip install scikit-learn to compare")
gmm_plots.plot_components(blobs, gmm.weights_, gmm.means_, gmm.covariances_, "full", labels=gmm.predict(blobs),
                          title="EM: three components, ellipses at 1 and 2 standard deviations")

# %% [markdown]
# ## 4. A VAE on 2-D Gaussian data, and posterior collapse
#
# Data from one 2-D Gaussian, once with a diagonal covariance and once rotated by 45°. The
# decoder's p(x|z) is itself a Gaussian with a *diagonal* covariance (`gaussian-learned`). For the
# diagonal data the decoder can fit the data with a constant mean and its own variances, and
# ignore z: the KL term falls to zero and q(z|x) becomes the prior. For the rotated data the
# correlation must come through z, so the code stays in use.

# %%
def gaussian_2d(n: int, rotated: bool, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g) * torch.tensor([3.0, 1.0])
    if rotated:
        c = math.sqrt(0.5)
        x = x @ torch.tensor([[c, c], [-c, c]])
    return x + torch.tensor([2.0, 3.0])


for rotated in (False, True):
    torch.manual_seed(0)
    data2d = gaussian_2d(2000 if QUICK else 10000, rotated)
    vae2d = zoo.build("vae", data_shape=(2,), latent_dim=2, hidden=(32, 32), activation="relu",
                      likelihood="gaussian-learned")
    h = zoo.fit(vae2d, data2d[:-500], test=data2d[-500:], epochs=5 if QUICK else 40, batch_size=100, lr=1e-3,
                progress=False)
    with torch.no_grad():
        q = vae2d.eval().encode(data2d[-500:])
    print(f"{'rotated ' if rotated else 'diagonal'}: test KL {h[-1]['test_kl']:.3f} nats; q(z|x) means' std "
          f"{q.mean.std(0).numpy().round(2)}, q's scales {q.stddev.mean(0).numpy().round(2)} (the prior's: 1)")

# %% [markdown]
# ## 5. A convolutional VAE with β on CIFAR-10
#
# Colour images in [−1, 1], a Gaussian likelihood with σ = 1 and a KL weight β = 0.1 *in training*:
# the objective $\mathbb E_q[\log p(x \mid z)] - \beta\, \mathrm{KL}$ is no longer a bound, but the
# numbers `zoo.fit` reports are the true ELBO of the same networks. A small β lets the code carry
# more of the image.

# %%
cifar = zoo.data.load("cifar10-subset-centered")
n_train = 500 if QUICK else 5000
torch.manual_seed(0)
conv = zoo.build("conv-vae", data_shape=(3, 32, 32), latent_dim=64, likelihood="gaussian",
                 likelihood_options={"scale": 1.0}, beta=0.1)
h = zoo.fit(conv, cifar.train[:n_train], test=cifar.test[:500], epochs=1 if QUICK else 15, batch_size=100,
            progress=False)
print(f"test ELBO {h[-1]['test_elbo']:.1f} nats per image, KL {h[-1]['test_kl']:.1f}")
conv.eval()
images = cifar.test[:6]
with torch.no_grad():
    recons = conv.reconstruct(images, num_samples=2)
plots.plot_reconstructions((images + 1) / 2, (recons + 1) / 2,
                           title="CIFAR-10: input, two reconstructions (mean of p(x|z))")
