"""Tests of zoo.models.factory: building VAEs by name, the config and its validation."""
import dataclasses

import pytest
import torch
from torch import nn

import zoo
from guides import DiagonalGaussian
from zoo.likelihoods import BernoulliLikelihood
from zoo.models.factory import VAEConfig


def linear_sizes(module):
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, nn.Linear)]


def test_registries_list_their_names():
    assert "vae" in zoo.list_models()
    assert {"diagonal", "full-rank"} <= set(zoo.list_guides())
    assert zoo.list_guides() == sorted(zoo.list_guides())
    assert "elbo" in zoo.list_estimators() and "elbo-kl" in zoo.list_estimators()


def test_defaults_are_the_iwae_one_layer_setting():
    """784-200-200-50 with tanh units [Burda et al. 2015, sec. 5]."""
    vae = zoo.build("vae")
    assert linear_sizes(vae.encoder) == [(784, 200), (200, 200)]
    assert linear_sizes(vae.guide_head) == [(200, 100)]  # loc and scale from one layer
    assert linear_sizes(vae.decoder) == [(50, 200), (200, 200), (200, 784)]
    assert all(isinstance(m, nn.Tanh) for m in vae.modules() if isinstance(m, (nn.Tanh, nn.ReLU)))
    assert isinstance(vae.likelihood, BernoulliLikelihood)
    assert isinstance(vae.guide_head, DiagonalGaussian)
    assert vae.latent_dim == 50 and vae.data_shape == (1, 28, 28)


def test_decoder_mirrors_the_encoder_unless_told_otherwise():
    vae = zoo.build("vae", data_shape=(2, 3, 5), latent_dim=4, hidden=(16, 8), activation="relu")
    assert linear_sizes(vae.encoder) == [(30, 16), (16, 8)]
    assert linear_sizes(vae.decoder) == [(4, 8), (8, 16), (16, 30)]
    assert sum(isinstance(m, nn.ReLU) for m in vae.modules()) == 4

    vae = zoo.build("vae", data_shape=(2, 3, 5), latent_dim=4, hidden=(16, 8), decoder_hidden=(7,))
    assert linear_sizes(vae.decoder) == [(4, 7), (7, 30)]
    vae = zoo.build("vae", data_shape=(2, 3, 5), latent_dim=4, hidden=(16,), decoder_hidden=())
    assert linear_sizes(vae.decoder) == [(4, 30)]


def test_build_records_its_config_and_rebuilds_identically():
    kwargs = dict(data_shape=(1, 28, 28), latent_dim=6, hidden=(32,), activation="elu")
    vae = zoo.build("vae", **kwargs)
    config = dict(vae.config)
    assert config.pop("model") == "vae"
    assert config == dataclasses.asdict(VAEConfig(**kwargs))
    rebuilt = zoo.build(vae.config["model"], **config)
    assert rebuilt.config == vae.config
    shapes = lambda m: {k: v.shape for k, v in m.state_dict().items()}  # noqa: E731
    assert shapes(rebuilt) == shapes(vae)


def test_sizes_are_normalized_to_tuples():
    cfg = VAEConfig(data_shape=[1, 28, 28], hidden=[10, 5], decoder_hidden=[3], latent_dim=2)
    assert cfg.data_shape == (1, 28, 28) and cfg.hidden == (10, 5) and cfg.decoder_hidden == (3,)
    assert VAEConfig(hidden=12).hidden == (12,)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        VAEConfig().latent_dim = 3


def test_initial_weights_follow_the_torch_seed():
    torch.manual_seed(5)
    a = zoo.build("vae", latent_dim=3, hidden=(8,))
    torch.manual_seed(5)
    b = zoo.build("vae", latent_dim=3, hidden=(8,))
    torch.manual_seed(6)
    c = zoo.build("vae", latent_dim=3, hidden=(8,))
    assert all(torch.equal(a.state_dict()[k], v) for k, v in b.state_dict().items())
    assert not all(torch.equal(a.state_dict()[k], v) for k, v in c.state_dict().items())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(latent_dim=0), r"latent_dim must be a positive integer, got 0"),
        (dict(latent_dim=-2), r"latent_dim must be a positive integer, got -2"),
        (dict(latent_dim=2.0), r"latent_dim must be a positive integer, got 2.0"),
        (dict(latent_dim=True), r"latent_dim must be a positive integer, got True"),
        (dict(hidden=(0,)), r"hidden must be positive integers, got \(0,\)"),
        (dict(hidden=(-3,)), r"hidden must be positive integers, got \(-3,\)"),
        (dict(hidden=(8, 0)), r"hidden must be positive integers"),
        (dict(hidden=()), r"hidden must not be empty"),
        (dict(hidden=(True,)), r"hidden must be positive integers"),
        (dict(decoder_hidden=(0,)), r"decoder_hidden must be positive integers"),
        (dict(data_shape=(1, 0, 28)), r"data_shape must be positive integers"),
        (dict(data_shape=()), r"data_shape must not be empty"),
        (dict(activation="tahn"), r"unknown activation 'tahn'; choose from .*relu.*tanh"),
        (dict(likelihood="gauss"), r"unknown likelihood 'gauss'; choose from bernoulli"),
        (dict(guide="plnar"), r"unknown guide 'plnar'; choose from diagonal"),
    ],
)
def test_bad_config_raises_naming_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        zoo.build("vae", **kwargs)


def test_unknown_model_lists_choices():
    with pytest.raises(ValueError, match=r"unknown model 'vea'; choose from ") as error:
        zoo.build("vea")
    assert str(error.value).endswith(", ".join(zoo.list_models()))  # every name, sorted
    assert {"ae", "conv-vae", "vae"} <= set(zoo.list_models())
    with pytest.raises(TypeError, match="model name must be a str"):
        zoo.build(None)


def test_unknown_keyword_names_the_model():
    with pytest.raises(TypeError, match=r"bad arguments for model 'vae': .*latent_size"):
        zoo.build("vae", latent_size=3)
