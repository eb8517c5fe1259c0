r"""A VAE with L stochastic layers (two by default), as a Pyro model/guide pair.

    model:  z_L ~ p(z_L),  z_l | z_{l+1} ~ N(mu_l(z_{l+1}), diag sigma_l(z_{l+1})^2),  x | z_1 ~ p(x | z_1)
    guide:  z_1 | x ~ q(z_1 | x),  z_l | z_{l-1} ~ q(z_l | z_{l-1})                     (bottom-up)

Every layer of the guide is any head from ``guides/`` (diagonal, full-rank, flows) on an MLP of
the layer below; the model's conditionals are diagonal Gaussians with softplus scales. The sites
are ``z1`` ... ``zL`` under the ``data`` plate, so every estimator's log-weight is

    log w = log p(x|z_1) + sum_{l<L} log p(z_l|z_{l+1}) + log p(z_L) - sum_l log q(z_l|z_{l-1}).

The defaults are the second architecture of [1] (its ``experiments.py``): latent sizes 100 and 50;
q: x -> 200-200 -> z_1, z_1 -> 100-100 -> z_2; p: z_2 -> 100-100 -> z_1, z_1 -> 200-200 -> x; tanh.
The top layer's prior is ``standard``, ``mog:K`` or ``vamp:K`` (``zoo.models.priors``; the
VampPrior's pseudo-inputs then live in z_{L-1}'s space, the input of the top layer's guide).

The code of this model is its top layer: ``encode(x)`` is the marginal q(z_L|x) (sampled
ancestrally, no closed-form density), ``generate(z_L)`` decodes through the conditional means,
``encode(x, layer=l)`` gives any layer for active units per layer [1, sec. 5.2].

References:
    [1] Burda, Grosse, Salakhutdinov. Importance Weighted Autoencoders. arXiv:1509.00519
    [2] Rezende, Mohamed, Wierstra. Stochastic Backpropagation and Approximate Inference in Deep
        Generative Models. arXiv:1401.4082
"""
import dataclasses
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from guides.registry import build_guide
from zoo._utils.checks import positive_int
from zoo.likelihoods import Likelihood, build_likelihood
from zoo.models.configs import check_mlp_config
from zoo.models.priors import Prior, build_prior
from zoo.models.vae import DATA_PLATE, OBSERVED, VAE
from zoo.nets.mlp import MLPDecoder, MLPEncoder, check_sizes

MEAN_DRAWS = 100  # draws of the lower layers for E_q[z_l | x], l > 1


def latent_site(layer: int, prefix: str = "z") -> str:
    """The site name of layer ``layer`` (0-based, bottom first): ``z1``, ``z2``, ..."""
    return f"{prefix}{layer + 1}"


def draw(d: dist.TorchDistribution, sample_shape=torch.Size()) -> torch.Tensor:
    """A reparameterized draw where ``d`` has one, else a plain one (binary units)."""
    return d.rsample(sample_shape) if d.has_rsample else d.sample(sample_shape)


class HVAE(VAE):
    """A hierarchical VAE: layer 1 is a :class:`~zoo.models.vae.VAE`'s encoder, head and decoder;
    the layers above add an encoder and a guide head each (bottom-up) and a conditional p(z_l|z_{l+1}).

    Args:
        encoders: L networks; ``encoders[0]`` maps x, ``encoders[l]`` maps z_l (0-based) to features.
        heads: L guide heads, features -> q(z_{l+1} | .).
        conditionals: L - 1 networks, ``conditionals[l]`` maps z_{l+2} to p(z_{l+1} | z_{l+2}).
        decoder: maps z_1 to likelihood parameters.
        likelihood: p(x|z_1).
        latent_dims: sizes of z_1 ... z_L.
        config: the arguments of ``zoo.build`` (for ``zoo.load``).
        prior: p(z_L) (default: the standard normal).
    """

    site_prefix = "z"  # the sites are z1 ... zL
    reparameterized = True  # the guide's layers have reparameterized samplers

    def __init__(self, encoders: Sequence[nn.Module], heads: Sequence[nn.Module], conditionals: Sequence[nn.Module],
                 decoder: nn.Module, likelihood: Likelihood, latent_dims: Sequence[int],
                 config: Optional[dict] = None, prior: Optional[Prior] = None):
        latent_dims = tuple(latent_dims)
        if not (len(encoders) == len(heads) == len(conditionals) + 1 == len(latent_dims)):
            raise ValueError(f"{len(latent_dims)} latent layers need as many encoders and heads and one "
                             f"conditional fewer; got {len(encoders)}, {len(heads)} and {len(conditionals)}")
        super().__init__(encoders[0], heads[0], decoder, likelihood, latent_dims[-1], config=config, prior=prior)
        self.latent_dims = latent_dims
        self.up_encoders = nn.ModuleList(encoders[1:])
        self.up_heads = nn.ModuleList(heads[1:])
        self.conditionals = nn.ModuleList(conditionals)

    @property
    def num_layers(self) -> int:
        return len(self.latent_dims)

    def latent_sites(self) -> List[str]:
        return [latent_site(layer, self.site_prefix) for layer in range(self.num_layers)]

    # ---- Pyro model / guide ----------------------------------------------------------

    def model(self, x: torch.Tensor) -> torch.Tensor:
        # p(x|z_1) prod_l p(z_l|z_{l+1}) p(z_L)   (latent terms ^beta with kl_weight, in training)
        self.check_input(x)
        self._register("decoder", "conditionals", "latent_prior")
        with pyro.plate(DATA_PLATE, x.shape[0]):
            with self._latent_scale():
                z = pyro.sample(latent_site(self.num_layers - 1, self.site_prefix), self.prior())
                for layer in reversed(range(self.num_layers - 1)):
                    z = pyro.sample(latent_site(layer, self.site_prefix), self.conditionals[layer](z))
            pyro.sample(OBSERVED, self.likelihood.dist(self.decoder(z)), obs=x)
        return z

    def guide(self, x: torch.Tensor) -> torch.Tensor:
        # q(z_1|x) prod_{l>1} q(z_l|z_{l-1})
        self.check_input(x)
        self._register("encoder", "guide_head", "up_encoders", "up_heads")
        with pyro.plate(DATA_PLATE, x.shape[0]), self._latent_scale():
            z = x
            for layer in range(self.num_layers):
                z = pyro.sample(latent_site(layer, self.site_prefix), self.layer_guide(layer, z))
        return z

    # ---- plain-torch utilities ----------------------------------------------------------

    def layer_guide(self, layer: int, inputs: torch.Tensor) -> dist.TorchDistribution:
        """q(z_{layer+1} | inputs): inputs are x for layer 0, else a code of the layer below."""
        if layer == 0:
            return self.guide_head(self.encoder(inputs))
        return self.up_heads[layer - 1](self.up_encoders[layer - 1](inputs))

    def prior(self) -> dist.TorchDistribution:
        """p(z_L): N(0, I), or the learned prior (the VampPrior through the top layer's guide)."""
        return self.latent_prior(lambda u: self.layer_guide(self.num_layers - 1, u))

    def encode(self, x: torch.Tensor, layer: int = -1) -> dist.TorchDistribution:
        """q(z_l|x), the guide's marginal at layer ``layer`` (default the top): exact for layer 1,
        else :class:`LayerMarginal`, batch shape ``(N,)``, event shape ``(latent_dims[layer],)``."""
        layer = range(self.num_layers)[layer]
        return self.layer_guide(0, x) if layer == 0 else LayerMarginal(self, x, layer)

    def layer_encoders(self) -> list:
        """One ``encode`` per layer, bottom first (active units per layer)."""
        return [lambda x, layer=layer: self.encode(x, layer) for layer in range(self.num_layers)]

    def descend(self, z: torch.Tensor, mean: bool = True) -> torch.Tensor:
        """z_1 from a top code z_L through the model's conditionals: their means, or draws."""
        for layer in reversed(range(self.num_layers - 1)):
            p = self.conditionals[layer](z)
            z = p.mean if mean else p.sample()
        return z

    def generate(self, z: torch.Tensor, mean: bool = True) -> torch.Tensor:
        """Data for top codes ``z``: through the conditional means and the likelihood's mean, or
        (``mean=False``) a draw at every layer."""
        return super().generate(self.descend(z, mean), mean)

    @torch.no_grad()
    def sample(self, n: int, mean: bool = True) -> torch.Tensor:
        """Ancestral samples z_L ~ p(z_L), z_l ~ p(z_l|z_{l+1}); then E[x|z_1] (or a draw of x)."""
        positive_int("n", n)
        return super().generate(self.descend(self.prior().sample((n,)), mean=False), mean)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, num_samples: int = 1, mean: bool = True) -> torch.Tensor:
        """``num_samples`` reconstructions of each input through z_1 ~ q(z_1|x)."""
        positive_int("num_samples", num_samples)
        self.check_input(x)
        return super().generate(self.layer_guide(0, x).sample((num_samples,)), mean)

    def kl(self, x: torch.Tensor, num_samples: int = 1) -> torch.Tensor:
        r"""KL(q(z_{1:L}|x) || p(z_{1:L})) per datapoint, a Monte Carlo mean over ``num_samples`` draws."""
        q = self.layer_guide(0, x)
        codes = [draw(q, (num_samples,))]
        log_q = q.log_prob(codes[0])
        for layer in range(1, self.num_layers):
            q = self.layer_guide(layer, codes[-1])
            codes.append(draw(q))
            log_q = log_q + q.log_prob(codes[-1])
        log_p = self.prior().log_prob(codes[-1])
        for layer in range(self.num_layers - 1):
            log_p = log_p + self.conditionals[layer](codes[layer + 1]).log_prob(codes[layer])
        return (log_q - log_p).mean(0)


class LayerMarginal(dist.TorchDistribution):
    """q(z_l|x) = int q(z_l|z_{l-1}) ... q(z_1|x) dz_{1:l-1}: drawn ancestrally; its mean is the
    conditional mean E[z_l|z_{l-1}] averaged over ``MEAN_DRAWS`` draws of the layers below
    (Rao-Blackwellized: an inactive unit's mean stays near 0 instead of carrying sampling noise).
    It has no closed-form density: ``log_prob`` raises ``NotImplementedError``."""

    arg_constraints = {}
    support = dist.constraints.real_vector

    def __init__(self, hvae: HVAE, x: torch.Tensor, layer: int):
        self.hvae, self.x, self.layer = hvae, x, layer
        super().__init__(torch.Size([x.shape[0]]), torch.Size([hvae.latent_dims[layer]]), validate_args=False)

    @property
    def has_rsample(self) -> bool:
        return self.hvae.reparameterized

    def _below(self, sample_shape) -> torch.Tensor:
        z = draw(self.hvae.layer_guide(0, self.x), sample_shape)
        for layer in range(1, self.layer):
            z = draw(self.hvae.layer_guide(layer, z))
        return z

    def rsample(self, sample_shape=torch.Size()) -> torch.Tensor:
        return draw(self.hvae.layer_guide(self.layer, self._below(sample_shape)))

    @property
    def mean(self) -> torch.Tensor:
        with torch.no_grad():
            return self.hvae.layer_guide(self.layer, self._below((MEAN_DRAWS,))).mean.mean(0)

    def log_prob(self, value):
        raise NotImplementedError(f"q({self.hvae.site_prefix}{self.layer + 1}|x) of a hierarchical guide has no "
                                  "closed-form density: it is q(z_l|z_{l-1}) integrated over the layers below")


@dataclass(frozen=True)
class HVAEConfig:
    """Architecture of :class:`HVAE`; defaults are [1]'s two-layer network (100 and 50 latent units,
    200-200 and 100-100 deterministic layers, tanh).

    Args:
        data_shape: shape of one datum.
        latent_dims: sizes of z_1 ... z_L, bottom first.
        hidden: the width of the deterministic layers of each stochastic layer, one per layer: layer l's
            guide (from the layer below) and the conditional (or decoder) that produces layer l-1 (or x).
        depth: deterministic layers per stochastic layer.
        activation: hidden activation name.
        likelihood: likelihood name (``zoo.likelihoods``); ``likelihood_options`` its options.
        guide: each layer's guide (``guides``): one name for every layer, or one per layer separated
            by commas, bottom first (``"diagonal,iaf:2"``).
        prior: p(z_L): ``standard``, ``mog:K`` or ``vamp:K``.
    """

    data_shape: Tuple[int, ...] = (1, 28, 28)
    latent_dims: Tuple[int, ...] = (100, 50)
    hidden: Tuple[int, ...] = (200, 100)
    depth: int = 2
    activation: str = "tanh"
    likelihood: str = "bernoulli"
    guide: str = "diagonal"
    likelihood_options: Tuple[Tuple[str, Any], ...] = ()
    prior: str = "standard"

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        set_("latent_dims", check_sizes("latent_dims", self.latent_dims, allow_empty=False))
        set_("hidden", check_sizes("hidden", self.hidden, allow_empty=False))
        if len(self.hidden) != len(self.latent_dims):
            raise ValueError(f"hidden={self.hidden} must give one width per latent layer, latent_dims="
                             f"{self.latent_dims}: expected {len(self.latent_dims)} sizes, got {len(self.hidden)}")
        positive_int("depth", self.depth)
        check_mlp_config(self, self.layer_guides())

    def layer_guides(self) -> Tuple[str, ...]:
        names = tuple(name.strip() for name in self.guide.split(","))
        if len(names) == 1:
            return names * len(self.latent_dims)
        if len(names) != len(self.latent_dims):
            raise ValueError(f"guide={self.guide!r} names {len(names)} guides for {len(self.latent_dims)} latent "
                             "layers: give one for every layer, or one per layer")
        return names


def build_hvae(**kwargs) -> HVAE:
    """An MLP hierarchical VAE; keyword arguments are the fields of :class:`HVAEConfig`."""
    cfg = HVAEConfig(**kwargs)
    likelihood = build_likelihood(cfg.likelihood, cfg.data_shape, **dict(cfg.likelihood_options))
    dims, act, guides = cfg.latent_dims, cfg.activation, cfg.layer_guides()
    widths = [(h,) * cfg.depth for h in cfg.hidden]
    inputs = [cfg.data_shape] + [(d,) for d in dims[:-1]]
    encoders = [MLPEncoder(shape, width, act) for shape, width in zip(inputs, widths)]
    heads = [build_guide(name, width[-1], d) for name, width, d in zip(guides, widths, dims)]
    conditionals = [nn.Sequential(MLPEncoder((dims[k + 1],), widths[k + 1], act),
                                  build_guide("diagonal", widths[k + 1][-1], dims[k])) for k in range(len(dims) - 1)]
    decoder = MLPDecoder(dims[0], cfg.data_shape, widths[0], act, likelihood.num_params)
    prior = build_prior(cfg.prior, dims[-1], inputs[-1], unit_interval=len(dims) == 1 and cfg.likelihood == "bernoulli")
    config = {"model": "hvae", **dataclasses.asdict(cfg)}
    return HVAE(encoders, heads, conditionals, decoder, likelihood, dims, config=config, prior=prior)
