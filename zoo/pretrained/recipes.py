r"""How each pretrained model is made: a ``vaezoo train`` command line per name.

A recipe is the exact ``vaezoo train`` argument list (``--out`` and ``--resume`` are added by
``vaezoo pretrained build``) and one line saying what it is. The card of a built model repeats
the command, so a missing weights file always says how to get it back.

Budgets: the MNIST models train at the ``standard`` profile of the benchmarks (all 50,000
binarized-MNIST training images, 50 epochs, batch 100, Adam 1e-3, 784-200-200-50 tanh), the
settings of ``vaezoo bench guides`` / ``hierarchy`` / ``discrete --profile standard``, so a card's
numbers can be read beside the published benchmark tables. The MNIST 32x32 ``conv-vae`` has half
the default channels (16 32 64): its card's S = 5000 evaluation of 10,000 test images costs a
quarter (about 0.5 s an image on one CPU thread instead of 2 s). Both conv VAEs have the conv
study's 32 latent dimensions (``vaezoo experiment conv-vae``'s default), which also keeps the whole
``weights/`` folder under 40 MB.
"""
from dataclasses import dataclass
from typing import Dict, Tuple


@dataclass(frozen=True)
class Recipe:
    """A pretrained model's ``vaezoo train`` arguments and a one-line description."""

    name: str
    args: Tuple[str, ...]
    summary: str

    def command(self, runs: str = "runs/pretrained") -> str:
        """The training command, as the card prints it."""
        return " ".join(("vaezoo", "train", *self.args, "--out", f"{runs}/{self.name}"))


_MNIST = ("--dataset", "binarized-mnist", "--epochs", "50", "--batch-size", "100", "--lr", "0.001", "--seed", "0")
_MLP = ("--model", "vae", "--hidden", "200", "200", "--latent-dim", "50", "--activation", "tanh")
_GUIDES = {"diagonal": "diagonal", "full-rank": "full-rank", "planar-10": "planar:10", "radial-10": "radial:10",
           "iaf-2": "iaf:2", "sylvester-4": "sylvester:4", "nsf-4": "nsf:4"}


def _recipes() -> Dict[str, Recipe]:
    out = [Recipe(f"vae-{name}", (*_MLP, "--guide", guide, "--estimator", "elbo", *_MNIST),
                  f"MLP VAE, {guide} guide, ELBO; binarized MNIST") for name, guide in _GUIDES.items()]
    out += [
        Recipe("vae-iwae-dreg-5", (*_MLP, "--estimator", "iwae-dreg", "--num-particles", "5", *_MNIST),
               "MLP VAE, diagonal guide, IWAE bound with DReG gradients, K = 5; binarized MNIST"),
        Recipe("vae-vamp-500", (*_MLP, "--prior", "vamp:500", "--estimator", "elbo", *_MNIST),
               "MLP VAE with the VampPrior (500 pseudo-inputs), ELBO; binarized MNIST"),
        Recipe("hvae-iwae-5", ("--model", "hvae", "--latent-dims", "100", "50", "--hidden", "200", "100", "--depth",
                               "2", "--activation", "tanh", "--estimator", "iwae", "--num-particles", "5", *_MNIST),
               "two stochastic layers (Burda et al.'s 100/50), IWAE K = 5; binarized MNIST"),
        Recipe("sbn-vimco-5", ("--model", "sbn", "--layers", "200", "--estimator", "vimco", "--num-particles", "5",
                               *_MNIST),
               "sigmoid belief net, 200 binary units, VIMCO K = 5; binarized MNIST"),
        Recipe("conv-vae-mnist32", ("--model", "conv-vae", "--dataset", "mnist32", "--binarize", "static",
                                    "--channels", "16", "32", "64", "--latent-dim", "32", "--beta", "1",
                                    "--epochs", "20", "--batch-size", "100", "--lr", "0.001", "--seed", "0"),
               "convolutional VAE, Bernoulli, 32 latent dims, channels 16 32 64; MNIST 32x32, static binarization"),
        Recipe("conv-vae-cifar10", ("--model", "conv-vae", "--dataset", "cifar10-subset-centered", "--likelihood",
                                    "gaussian", "--likelihood-scale", "1", "--beta", "0.1", "--latent-dim", "32",
                                    "--epochs", "50", "--batch-size", "100", "--lr", "0.001", "--seed", "0"),
               "convolutional VAE, Gaussian (sigma 1), beta = 0.1 in training, 32 latent dims; the CIFAR-10 subset "
               "in [-1, 1]"),
        Recipe("seq-vae-sines", ("--model", "seq-vae", "--dataset", "sines", "--latent-dim", "4", "--hidden", "10",
                                 "20", "--epochs", "300", "--batch-size", "50", "--lr", "0.01", "--seed", "0"),
               "GRU sequence VAE, 4 latent dims, on the generated sinusoids"),
        Recipe("dmm-sines", ("--model", "dmm", "--dataset", "sines", "--latent-dim", "4", "--hidden", "32", "32", "64",
                             "--epochs", "300", "--batch-size", "50", "--lr", "0.003", "--seed", "0"),
               "deep Markov model, a 4-dim latent state per time step (widths 32 32 64), on the generated sinusoids"),
        Recipe("vae-frey", ("--model", "vae", "--dataset", "frey", "--likelihood", "gaussian-learned", "--hidden",
                            "100", "--latent-dim", "10", "--epochs", "500", "--batch-size", "100", "--lr", "0.001",
                            "--seed", "0"),
               "MLP VAE, Gaussian likelihood with a learned scale, 10 latent dims; Frey Faces"),
    ]
    return {r.name: r for r in out}


RECIPES: Dict[str, Recipe] = _recipes()

__all__ = ["RECIPES", "Recipe"]
