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
# # Autoencoder versus VAE, and a planar-flow guide
#
# Why the variational machinery at all? An ordinary **autoencoder** also compresses a digit into
# a code and decodes it back, trained only to reconstruct. A **VAE** adds a prior p(z) and a
# distribution q(z|x) over codes, and pays KL(q(z|x) ‖ p(z)) for moving away from the prior. We
# train both with a 2-D code, so the codes can be looked at directly, and see what the KL buys:
# a code space that can be *sampled*. Then we make the VAE's guide richer with a normalizing flow.
#
# In Pyro terms the autoencoder (`zoo.build("ae")`) is the same model with a point-mass guide
# q(z|x) = δ(z − f(x)) and a flat prior, so its "ELBO" is the reconstruction log-likelihood alone.
#
# **Settings.** `VAEZOO_TUTORIAL_QUICK=1` (the test suite's) shrinks the data and epochs.

# %%
import os

import torch

import zoo
from zoo import plots
from zoo.evaluation import latent

QUICK = os.environ.get("VAEZOO_TUTORIAL_QUICK") == "1"
EPOCHS = 3 if QUICK else 60
NUM_SAMPLES = 50 if QUICK else 1000
ds = zoo.data.load("mnist5k", binarize="static", seed=0)
train = ds.train[:1000] if QUICK else ds.train
net = dict(data_shape=(1, 28, 28), latent_dim=2, hidden=(400, 200), activation="relu")
print("quick test setting" if QUICK else "full setting", "-", EPOCHS, "epochs,", train.shape[0], "training digits")

# %%
models = {}
for name in ("ae", "vae"):
    torch.manual_seed(0)
    models[name] = zoo.build(name, **net)
    history = zoo.fit(models[name], train, test=ds.test, epochs=EPOCHS, batch_size=100, progress=False)
    models[name].eval()
    print(f"{name}: test objective {history[-1]['test_elbo']:.1f} nats per digit "
          f"({'reconstruction alone' if name == 'ae' else 'ELBO: reconstruction minus KL'})")

# %% [markdown]
# ## Reconstructions: the autoencoder wins
#
# With nothing but reconstruction to optimize, the autoencoder reconstructs at least as sharply.

# %%
x = ds.test[:8]
recons = torch.cat([model.reconstruct(x, num_samples=1) for model in models.values()])  # (2, 8, 1, 28, 28)
plots.plot_reconstructions(x, recons, title="Input, then the autoencoder's and the VAE's reconstruction")

# %% [markdown]
# ## The codes: only the VAE's follow a known distribution
#
# The posterior means of the test digits, coloured by their label. The autoencoder's codes sit
# wherever training put them, at any scale; the VAE's are pulled towards N(0, I).

# %%
codes = {name: latent.posterior_means(model.encode, ds.test) for name, model in models.items()}
for name, c in codes.items():
    print(f"{name}: codes' mean {c.mean(0).numpy().round(2)}, std {c.std(0).numpy().round(2)}")
plots.plot_latent_scatter(codes["ae"], labels=ds.test_labels, title="Autoencoder: codes of the test digits")

# %%
plots.plot_latent_scatter(codes["vae"], labels=ds.test_labels, title="VAE: posterior means of the test digits")

# %% [markdown]
# ## Decoding random codes: only the VAE generates digits
#
# Decode codes drawn from N(0, I). For the VAE that is its prior: the distribution its codes were
# pulled towards, so these codes are where its decoder was trained. The autoencoder has no prior:
# N(0, I) is an arbitrary patch of its code space (compare with the spread of its codes above), and
# nothing in its training says what the decoder makes of codes no digit was mapped to. Compare the
# rows.

# %%
torch.manual_seed(1)
z = torch.randn(12, 2)
plots.plot_image_rows(torch.stack([model.generate(z) for model in models.values()]), row_labels=list(models),
                      title="The same twelve codes z ~ N(0, I), decoded", xlabel="mean of p(x|z)")

# %% [markdown]
# And the straight line between two test digits' codes: the VAE's path passes through digits.

# %%
a, b = ds.test[:1], ds.test[1:2]
paths = [model.generate(latent.interpolate(model.encode(a).mean[0], model.encode(b).mean[0], num_steps=10))
         for model in models.values()]
plots.plot_interpolations(torch.stack(paths), row_labels=list(models))

# %% [markdown]
# ## A richer guide: planar flows
#
# The diagonal Gaussian q(z|x) may be too simple for the true posterior p(z|x). A normalizing flow
# pushes a Gaussian draw through K invertible maps; a **planar** step (Rezende & Mohamed 2015) is
#
# $$f(z) = z + u\, \tanh(w^\top z + b), \qquad \log\left|\det \frac{\partial f}{\partial z}\right| =
# \log\left|1 + u^\top \psi(z)\right|, \quad \psi(z) = \tanh'(w^\top z + b)\, w,$$
#
# with u, w, b computed from x (amortized). The flow's density is exact, so the ELBO and the
# importance-sampled log p(x) stay valid. Same networks, 10 planar steps, more latent dimensions:

# %%
results = {}
for guide in ("diagonal", "planar:10"):
    torch.manual_seed(0)
    vae = zoo.build("vae", **{**net, "latent_dim": 10}, guide=guide)
    history = zoo.fit(vae, train, test=ds.test, epochs=EPOCHS, batch_size=100, progress=False)
    vae.eval()
    r = zoo.log_likelihood(vae.model, vae.guide, ds.test[:500], num_samples=NUM_SAMPLES).summary()
    results[guide] = r
    print(f"{guide:9s}: test ELBO {history[-1]['test_elbo']:.2f}, log p(x) ~ {r['log_likelihood']:.2f} "
          f"+- {r['log_likelihood_stderr']:.2f}, gap {r['posterior_gap']:.2f} nats (S = {NUM_SAMPLES})")

# %% [markdown]
# Two things can change: the gap, log p(x) − ELBO ≈ E KL(q(z|x) ‖ p(z|x)) (how far the guide is
# from the posterior), and log p(x) itself (the model that training with the other guide found).
# Read both from the output above; one seed and one budget say little on their own. The
# guides benchmark (`vaezoo bench guides`) compares every guide of the zoo on the full
# binarized MNIST: see [the results](../results/index.md).
