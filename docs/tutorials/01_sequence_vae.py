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
# # A sequence VAE on sinusoids
#
# A variational autoencoder for signals: a GRU reads a sinusoid of 50 samples into a small code
# z, and a second GRU writes the signal back from z, five samples per step. The lesson of the
# tutorial this project grew from: the decoder learns to generate *whole signals* from a
# two-to-four-number code, and changing the code by hand changes the signal's amplitude,
# frequency and phase.
#
# The model, as a Pyro model/guide pair (`zoo.models.SeqVAE`):
#
# $$p(z) = \mathcal N(0, I), \qquad p(x \mid z) = \prod_t \mathcal N(x_t \mid \mu_t(z), \sigma^2), \qquad
# q(z \mid x) = \mathcal N(\mu(h_T), \operatorname{diag} \sigma^2(h_T))$$
#
# where $h_T$ is the encoder GRU's last state and $\mu_t(z)$ comes from the decoder GRU, fed at
# each step with z and the five samples it emitted last.
#
# **Settings.** `VAEZOO_TUTORIAL_QUICK=1` (the test suite's setting) shrinks the run to seconds;
# the rendered page uses the full one.

# %%
import os

import torch

import zoo
from zoo import plots
from zoo.plots import seq as seq_plots

QUICK = os.environ.get("VAEZOO_TUTORIAL_QUICK") == "1"
EPOCHS = 20 if QUICK else 300
torch.manual_seed(0)
print("quick test setting" if QUICK else "full setting", "-", EPOCHS, "epochs")

# %% [markdown]
# ## The data
#
# `sines` generates $x_t = A \sin(2\pi f t + \varphi)$ with $A \sim U(0.5, 1.5)$,
# $f \sim U(0.02, 0.08)$ cycles per sample and $\varphi \sim U(0, 2\pi)$: 1,000 training and 200
# held-out signals of 50 samples, with their generating factors kept beside them.

# %%
ds = zoo.data.load("sines")
print(ds.train.shape, ds.test.shape, list(ds.factors["test"]))
seq_plots.plot_generations(ds.test[:8], title="Eight held-out signals")

# %% [markdown]
# ## The model
#
# Encoder GRU state 10, decoder GRU state 20, five samples per decoding step, and a latent code
# of four numbers (amplitude, frequency and a phase on a circle need four). **Teacher forcing**:
# in training, at each decoding step the decoder is fed the *true* previous five samples instead
# of its own with probability 0.5, which speeds up learning; evaluation and generation always
# feed the decoder its own output.

# %%
vae = zoo.build("seq-vae", data_shape=(50,), latent_dim=4, hidden=(10, 20), samples_per_step=5,
                teacher_forcing=0.5)
print(vae)

# %% [markdown]
# `vae.model` and `vae.guide` are a plain Pyro pair: `pyro.infer.SVI` trains them as they are.
# `zoo.fit` is the same objective (here the ELBO) with a faster loop, checkpoints and a history.

# %%
history = zoo.fit(vae, ds.train, test=ds.test, epochs=EPOCHS, batch_size=50, lr=1e-2, progress=False)
last = history[-1]
print(f"epoch {last['epoch']}: train ELBO {last['train_elbo']:.1f}, test ELBO {last['test_elbo']:.1f} nats per signal")
plots.plot_training_curves(history, title="Sequence VAE on sinusoids")

# %% [markdown]
# ## Reconstructing held-out signals
#
# `zoo.fit` leaves the model in training mode, where teacher forcing feeds the decoder the true
# signal: anything measured in that mode would flatter the model. `vae.eval()` switches it off.
# `reconstruct` encodes each signal, draws z from q(z|x) and decodes the mean of p(x|z): three
# draws per signal, dashed, over the original.

# %%
vae.eval()
x = ds.test[:6]
seq_plots.plot_sequence_reconstructions(x, vae.reconstruct(x, num_samples=3))

# %% [markdown]
# The importance-sampled log-likelihood (Burda et al. 2016) tells how much better than the ELBO
# the model really is:
#
# $$\log p(x) \approx \log \frac1S \sum_{s=1}^S \frac{p(x, z_s)}{q(z_s \mid x)}, \quad z_s \sim q(z \mid x)$$

# %%
ll = zoo.log_likelihood(vae.model, vae.guide, ds.test, num_samples=100 if QUICK else 1000)
print(f"log p(x) ~ {ll.log_px.mean():.1f} nats per signal; ELBO {ll.elbo.mean():.1f}")

# %% [markdown]
# ## Overriding the code
#
# The decoder is a generator: `vae.generate(z)` writes the signal of any code we choose. Take a
# held-out signal's code (the mean of q(z|x)), then move one coordinate at a time.

# %%
z = vae.encode(ds.test[:1]).mean  # (1, 4)
codes = z.repeat(5, 1)
codes[:, 0] += torch.linspace(-2, 2, 5)  # the first coordinate from -2 to +2 around it
seq_plots.plot_generations(vae.generate(codes), title="One signal's code, its first coordinate moved from -2 to +2")

# %% [markdown]
# Every coordinate in turn, from the prior's centre (z = 0), with the amplitude, frequency and
# phase of a sinusoid fitted to each generated curve (right): which coordinate carries which
# factor is found by training, not set in advance.

# %%
seq_plots.plot_latent_traversals(vae)

# %% [markdown]
# And the codes of the held-out signals, coloured by their true frequency: the encoder has
# arranged them by the factors that generated them.

# %%
codes = vae.encode(ds.test).mean
seq_plots.plot_latent_scatter(codes, ds.factors["test"]["frequency"], label="frequency")

# %% [markdown]
# **What to try.** `teacher_forcing=0` (slower to fit), `latent_dim=2` (the seed's choice: the
# phase then has no room), or `zoo.fit(..., estimator="iwae", num_particles=5)`.
