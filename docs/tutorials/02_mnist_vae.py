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
# # A VAE on binarized MNIST: diagonal and full-rank guides
#
# The basic VAE: a standard normal prior, a product of 784 Bernoullis for the pixels, and a
# Gaussian q(z|x) whose parameters a network computes from x,
#
# $$z \sim \mathcal N(0, I), \qquad x_i \mid z \sim \operatorname{Bernoulli}(\mathrm{NN}_\theta(z)_i), \qquad
# q_\lambda(z \mid x) = \mathcal N(\mu_\lambda(x), \Sigma_\lambda(x)),$$
#
# trained by maximizing the ELBO, $\mathbb E_q[\log p(x \mid z)] - \mathrm{KL}(q(z \mid x) \,\|\, p(z))$.
# A **diagonal** $\Sigma$ (mean field) can only describe axis-aligned ellipses; a **full-rank** one,
# $\Sigma = L L^\top$ with $L$ lower triangular (a Cholesky factor), can describe correlated
# posteriors. We train both, look at what each model imagines ("phantasizes") from the prior,
# reconstruct one digit many times, and resume training from a checkpoint.
#
# **Settings.** `VAEZOO_TUTORIAL_QUICK=1` (the test suite's) shrinks the data and epochs.

# %%
import os
import tempfile
from pathlib import Path

import torch

import zoo
from zoo import plots

QUICK = os.environ.get("VAEZOO_TUTORIAL_QUICK") == "1"
EPOCHS = 3 if QUICK else 100
NUM_SAMPLES = 50 if QUICK else 1000  # S for the importance-sampled log p(x)
runs = Path(tempfile.mkdtemp(prefix="vaezoo-tutorial-"))  # checkpoints go here
print("quick test setting" if QUICK else "full setting", "-", EPOCHS, "epochs")

# %% [markdown]
# ## The data
#
# `mnist5k` is 5,000 real MNIST digits shipped inside a pip package (4,000 train, 1,000 test), so
# this runs without a data folder. `binarize="static"` draws each pixel once from a Bernoulli of its
# intensity: the data are 0/1, as the Bernoulli likelihood assumes.

# %%
ds = zoo.data.load("mnist5k", binarize="static", seed=0)
train = ds.train[:1000] if QUICK else ds.train
print(train.shape, ds.test.shape, train.unique().tolist())
plots.plot_samples(ds.test[:20], title="Twenty test digits")

# %% [markdown]
# ## Two models, one difference
#
# `zoo.build` assembles the networks (784-200-10, tanh) and the guide by name; everything else is
# the same. Each is a Pyro model/guide pair; `zoo.fit` trains it and writes a checkpoint every epoch.

# %%
histories, vaes = {}, {}
for guide in ("diagonal", "full-rank"):
    torch.manual_seed(0)
    vaes[guide] = zoo.build("vae", data_shape=(1, 28, 28), latent_dim=10, hidden=(200,), activation="tanh",
                            guide=guide)
    histories[guide] = zoo.fit(vaes[guide], train, test=ds.test, epochs=EPOCHS, lr=1e-3, batch_size=100,
                               out_dir=runs / guide, progress=False)
    last = histories[guide][-1]
    print(f"{guide:9s}: test ELBO {last['test_elbo']:.2f} nats, KL {last['test_kl']:.2f}, "
          f"{last['train_time_s']:.2f} s per epoch")

# %% [markdown]
# The training curves: ELBO on the training and test digits per epoch, and the KL term.

# %%
plots.plot_training_curves(histories["full-rank"], title="Full-rank guide")

# %% [markdown]
# The ELBO is a bound; the importance-sampled estimate of log p(x) is much closer to the truth.
# The gap between the two is about $\mathbb E\,\mathrm{KL}(q(z\mid x) \,\|\, p(z \mid x))$: how far the
# guide is from the true posterior. A richer guide can close part of it, and can also lead training
# to a better model: compare both numbers of the two runs below.

# %%
for guide, vae in vaes.items():
    vae.eval()
    r = zoo.log_likelihood(vae.model, vae.guide, ds.test[:500], num_samples=NUM_SAMPLES).summary()
    print(f"{guide:9s}: log p(x) ~ {r['log_likelihood']:.2f} +- {r['log_likelihood_stderr']:.2f}, gap to the ELBO "
          f"{r['posterior_gap']:.2f} nats (S = {NUM_SAMPLES}, 500 test digits)")

# %% [markdown]
# ## Phantasizing digits
#
# Draw z from the prior and show the mean of p(x|z): what the model believes digits look like.

# %%
torch.manual_seed(1)
plots.plot_samples(vaes["full-rank"].sample(40), title="z ~ p(z), mean of p(x|z): full-rank model")

# %% [markdown]
# ## Many reconstructions of one digit
#
# q(z|x) is a distribution: each draw of z decodes to a slightly different digit. Where the guide
# is uncertain (an ambiguous input) the reconstructions vary more.

# %%
x = ds.test[3]
plots.plot_many_reconstructions(x, vaes["diagonal"].reconstruct(x[None], num_samples=20)[:, 0],
                                    title="Twenty draws z ~ q(z|x), decoded")

# %% [markdown]
# ## Checkpoints
#
# Every epoch `zoo.fit` wrote the model, optimizer and random state atomically to
# `out_dir/checkpoint.pt`. `zoo.load` gives the trained model back; `resume=True` continues a run
# from where it stopped, with the same numbers an uninterrupted run would have produced.

# %%
print(sorted(p.name for p in (runs / "diagonal").iterdir()))
again = zoo.load(runs / "diagonal")
print("reloaded:", all(torch.equal(a, b) for a, b in zip(again.state_dict().values(),
                                                          vaes["diagonal"].state_dict().values())))
more = zoo.fit(again, train, test=ds.test, epochs=EPOCHS + 2, out_dir=runs / "diagonal", resume=True,
               progress=False)
print(f"resumed at epoch {histories['diagonal'][-1]['epoch'] + 1}, now {len(more)} epochs; "
      f"test ELBO {more[-1]['test_elbo']:.2f}")

# %% [markdown]
# **What to try.** `guide="iaf:2"` or `"planar:10"` (flows, the next tutorial), a 2-D latent space
# (`latent_dim=2`) to see the codes directly, or `estimator="iwae", num_particles=5` in `zoo.fit`.
