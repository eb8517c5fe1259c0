r"""The convolutional VAE with a KL weight beta (the convolutional-VAE tutorials), as a Pyro model/guide pair.

    model:  z ~ N(0, I),  x | z ~ p_theta(x | z)   (``zoo.nets.conv.ConvDecoder`` + likelihood) [2]
    guide:  z | x ~ q_phi(z | x)                   (``ConvEncoder`` + any guide head of ``guides/``)

While the module is in training mode, the latent site z is scaled by beta in *both* model and
guide (``pyro.poutine.scale``), so ``Trace_ELBO`` (or ``TraceMeanField_ELBO``) optimizes

    L_beta(x) = E_q[log p(x|z)] - beta * KL(q(z|x) || p(z))                            [1]

For beta = 1 this is the ELBO. For beta != 1 it is a *weighted objective, not a bound*:
L_beta >= log p(x) is possible when beta < 1, and L_beta says nothing about log p(x) at all.
In eval mode (``vae.eval()``, which ``zoo.evaluation.likelihood.elbo_and_kl`` and ``zoo.fit``'s
evaluation use) the model is the plain model, so reported numbers are the true ELBO and
importance-weighted log-likelihood of the same networks, whatever beta they were trained with.

Seed 004's loss ``MSE + 0.1 * KL`` (both *means*: MSE over the D pixels, KL over the d latent
dimensions) is, up to a positive factor and a constant, this objective with a Gaussian
likelihood of fixed scale sigma:

    -L_beta            = ||x - mu(z)||^2 / (2 sigma^2) + beta * KL + const
                       = D * MSE / (2 sigma^2) + beta * d * KL_mean + const
    (2 sigma^2 / D) (-L_beta) = MSE + (2 sigma^2 beta d / D) * KL_mean + const'

so ``MSE + w * KL_mean`` is proportional to ``-L_beta`` (same minimizers) when
``sigma^2 = w D / (2 beta d)``.
With beta = 1 the tutorial's loss is a true (negative) ELBO with sigma = sqrt(w D / (2 d)):
sigma = sqrt(0.1 * 1024 / 256) = 0.632 for 1x32x32 images and d = 128 (the sizes of the
convolutional-VAE interpolation tutorial).
:func:`mse_kl_options` returns those build options. Adam is almost invariant to a constant
factor on the loss, so the two objectives also train alike.

Batch norm: the networks follow the module's mode. In training mode (``model``/``guide``
under SVI) each batch is normalized by its own statistics, particles and data points pooled,
and the running averages are updated; in eval mode the running averages alone are used, so the
evaluated ELBO is that of one fixed network and each datum's value is independent of its
batch. The averages trail the weights (momentum 0.1), so evaluate after a few hundred steps,
not a few. ``sample``, ``reconstruct`` and ``generate`` always run in eval mode, so drawing
figures in the middle of training leaves the batch-norm statistics untouched.

References:
    [1] Higgins et al. beta-VAE: Learning Basic Visual Concepts with a Constrained
        Variational Framework. ICLR 2017
    [2] Kingma, Welling. Auto-Encoding Variational Bayes. arXiv:1312.6114
"""
import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple

import torch
from torch import nn

from guides.registry import parse_guide
from zoo._utils.checks import positive_float, positive_int
from zoo._utils.contexts import evaluating  # noqa: F401  (re-exported)
from zoo._utils.options import freeze_options
from zoo.likelihoods import Likelihood, build_likelihood
from zoo.models.vae import VAE
from zoo.nets.conv import DECODER_OUTPUTS, check_image_shape
from zoo.nets.mlp import check_sizes


@dataclass(frozen=True)
class ConvVAEConfig:
    """Architecture of a convolutional VAE (``zoo.build("conv-vae", ...)``).

    Args:
        data_shape: ``(C, H, W)``: 28x28 or 32x32 grayscale, 32x32x3 colour, or any sides
            of at least ``2 ** len(channels)``.
        latent_dim: dimension of z (the convolutional-VAE interpolation tutorial: 128).
        channels: encoder conv channels; the decoder mirrors them (the convolutional-VAE
            interpolation tutorial: 32, 64, 128).
        likelihood: likelihood name (``zoo.likelihoods``).
        guide: guide name (``guides``), on the encoder's flattened features.
        likelihood_options: the likelihood's options, e.g. ``{"scale": 0.632}``.
        decoder_output: ``"linear"``, or ``"tanh"`` for a Gaussian mean on data in [-1, 1].
        beta: weight of the KL term while training; 1 is the ELBO (see the module docstring).
    """

    data_shape: Tuple[int, ...] = (1, 32, 32)
    latent_dim: int = 128
    channels: Tuple[int, ...] = (32, 64, 128)
    likelihood: str = "bernoulli"
    guide: str = "diagonal"
    likelihood_options: Tuple[Tuple[str, Any], ...] = ()
    decoder_output: str = "linear"
    beta: float = 1.0

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        set_("channels", check_sizes("channels", self.channels, allow_empty=False))
        set_("data_shape", check_image_shape(self.data_shape, len(self.channels)))
        positive_int("latent_dim", self.latent_dim)
        set_("beta", positive_float("beta", self.beta))
        set_("likelihood_options", freeze_options(self.likelihood_options))
        build_likelihood(self.likelihood, self.data_shape, **dict(self.likelihood_options))
        parse_guide(self.guide)
        if self.decoder_output not in DECODER_OUTPUTS:
            raise ValueError(f"unknown decoder_output {self.decoder_output!r}; "
                             f"choose from {', '.join(DECODER_OUTPUTS)}")
        if self.decoder_output == "tanh" and self.likelihood == "bernoulli":
            raise ValueError(
                "decoder_output='tanh' squashes a Gaussian mean into (-1, 1) for data in [-1, 1]; "
                "with likelihood='bernoulli' it would confine the logits to (-1, 1): use 'linear'"
            )



class ConvVAE(VAE):
    """A :class:`~zoo.models.vae.VAE` whose latent site is weighted by ``beta`` in training mode.

    Args:
        encoder, guide_head, decoder, likelihood, latent_dim, config: as for ``VAE``.
        beta: the KL weight, a positive number; applied only while ``self.training``.
    """

    def __init__(
        self,
        encoder: nn.Module,
        guide_head: nn.Module,
        decoder: nn.Module,
        likelihood: Likelihood,
        latent_dim: int,
        beta: float = 1.0,
        config: Optional[dict] = None,
    ):
        super().__init__(encoder, guide_head, decoder, likelihood, latent_dim, config=config)
        self.kl_weight = positive_float("beta", beta)

    @property
    def beta(self) -> float:
        """The KL weight, ``VAE.kl_weight`` under the name of the beta-VAE."""
        return self.kl_weight

    def generate(self, z: torch.Tensor, mean: bool = True) -> torch.Tensor:
        """As ``VAE.generate``, with batch norm in eval mode (running averages, not updated)."""
        with evaluating(self):
            return super().generate(z, mean)

    @torch.no_grad()
    def sample(self, n: int, mean: bool = True) -> torch.Tensor:
        """As ``VAE.sample``, with batch norm in eval mode."""
        with evaluating(self):
            return super().sample(n, mean)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, num_samples: int = 1, mean: bool = True) -> torch.Tensor:
        """As ``VAE.reconstruct``, with batch norm in eval mode."""
        with evaluating(self):
            return super().reconstruct(x, num_samples, mean)


def mse_kl_options(data_shape: Sequence[int], latent_dim: int, kl_weight: float = 0.1, beta: float = 1.0) -> dict:
    r"""Build options under which -L_beta is proportional to ``MSE + kl_weight * KL_mean``, the
    loss of the convolutional-VAE interpolation tutorial.

        MSE + w KL_mean = (2 sigma^2 / D) (-L_beta) + const   iff   sigma^2 = w D / (2 beta d)

    with D = prod(data_shape) pixels and d = ``latent_dim`` (MSE averaged over pixels, KL_mean
    over latent dimensions, as the seed does).

    Args:
        data_shape: ``(C, H, W)``.
        latent_dim: d.
        kl_weight: the tutorial's w (0.1).
        beta: the KL weight to keep; 1 (default) makes the objective a true ELBO.

    Returns:
        ``{"likelihood": "gaussian", "likelihood_options": {"scale": sigma}, "beta": beta}``.
    """
    num_pixels = math.prod(check_sizes("data_shape", data_shape, allow_empty=False))
    positive_int("latent_dim", latent_dim)
    kl_weight, beta = positive_float("kl_weight", kl_weight), positive_float("beta", beta)
    scale = math.sqrt(kl_weight * num_pixels / (2 * beta * latent_dim))
    return {"likelihood": "gaussian", "likelihood_options": {"scale": scale}, "beta": beta}
