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
# # A convolutional VAE on MNIST 32×32, and walking between digits
#
# An autoencoder compresses; a VAE also gives its code space a *structure*, because the KL term
# keeps every digit's q(z|x) near the same N(0, I). Codes of similar digits sit together, and the
# straight line between two codes decodes to images that change smoothly from one digit into the
# other. We train a convolutional VAE (four stride-2 convolutions down, transposed convolutions
# up: `zoo.models.ConvVAE`) on MNIST resized to 32×32, then compute each class's **mean code**
# and decode the paths between them.
#
# **Settings.** `VAEZOO_TUTORIAL_QUICK=1` (the test suite's) shrinks the data and epochs. MNIST is
# read from the data root (`$VAEZOO_DATA`, see [Data](../data.md)).

# %%
import os

import torch

import zoo
from zoo import plots
from zoo.evaluation import latent

QUICK = os.environ.get("VAEZOO_TUTORIAL_QUICK") == "1"
ds = zoo.data.load("mnist32", binarize="static", seed=0)
train = ds.train[:3000] if QUICK else ds.train[:20000]
EPOCHS = 2 if QUICK else 10
print("quick test setting" if QUICK else "full setting", f"- {EPOCHS} epochs on {train.shape[0]} digits")

# %% [markdown]
# ## The model
#
# A Bernoulli likelihood on the binarized pixels, a 32-dimensional code, channels 32-64-128.

# %%
torch.manual_seed(0)
vae = zoo.build("conv-vae", data_shape=(1, 32, 32), latent_dim=32, channels=(32, 64, 128))
history = zoo.fit(vae, train, test=ds.test[:2000], epochs=EPOCHS, batch_size=100, lr=1e-3, progress=False)
vae.eval()
print(f"test ELBO {history[-1]['test_elbo']:.1f} nats, KL {history[-1]['test_kl']:.1f}, "
      f"{history[-1]['train_time_s']:.0f} s per epoch")
plots.plot_samples(vae.sample(30), title="z ~ N(0, I), mean of p(x|z)")

# %% [markdown]
# ## Class-mean codes
#
# The posterior mean E[z|x] of every test digit, averaged per class: ten points in code space.
# Decoded, each is a prototype of its digit.

# %%
codes = latent.posterior_means(vae.encode, ds.test[:2000])
classes, means = latent.class_means(codes, ds.test_labels[:2000])
plots.plot_samples(vae.generate(means), title="The decoded mean code of each class, 0 to 9")

# %% [markdown]
# ## Between the classes
#
# $z(t) = (1 - t)\, \bar z_a + t\, \bar z_b$ for t from 0 to 1, decoded: each row walks from one
# class mean to the next.

# %%
pairs = [(0, 6), (1, 7), (3, 8), (4, 9), (2, 5)]
rows = torch.stack([vae.generate(latent.interpolate(means[a], means[b], num_steps=10)) for a, b in pairs])
plots.plot_interpolations(rows, row_labels=[f"{a} to {b}" for a, b in pairs])

# %% [markdown]
# And between two real test digits rather than class means:

# %%
x = ds.test[:2]
path = latent.interpolate(vae.encode(x[:1]).mean[0], vae.encode(x[1:]).mean[0], num_steps=10)
with torch.no_grad():
    plots.plot_interpolations(vae.generate(path)[None], row_labels=["test 0 to 1"])

# %% [markdown]
# ## Around a code
#
# Decode a class mean and random codes around it, $\bar z + \varepsilon$ with
# $\varepsilon \sim \mathcal N(0, I)$: the prior's scale. Digits stay digits, mostly of the same
# class, with varied style: the neighbourhood of a code is meaningful, which an autoencoder does
# not promise.

# %%
g = torch.Generator().manual_seed(0)
rows = torch.stack([torch.cat([vae.generate(means[c][None]), vae.generate(latent.perturb(means[c], 9, generator=g))])
                    for c in (2, 5, 8)])
plots.plot_perturbations(rows, row_labels=["2", "5", "8"])
