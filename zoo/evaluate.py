r"""Evaluation of trained models: per-datapoint ELBO and KL.

    ELBO(x) = E_q[log p(x, z) - log q(z|x)]  (Monte Carlo, ``num_particles`` draws)
    KL(x)   = KL(q(z|x) || p(z))              (closed form where registered; omitted where undefined)
"""
from typing import Dict

import torch

from zoo.checks import positive_int
from zoo.estimators.weights import log_weights


def _batches(x: torch.Tensor, batch_size: int):
    positive_int("batch_size", batch_size)
    for start in range(0, x.shape[0], batch_size):
        yield x[start : start + batch_size]


@torch.no_grad()
def elbo_and_kl(vae, x: torch.Tensor, batch_size: int = 1000, num_particles: int = 1) -> Dict[str, float]:
    """Dataset means of the ELBO and of KL(q(z|x) || p(z)), in nats per datapoint.

    The model is put in eval mode for the duration and restored afterwards.
    """
    was_training = vae.training
    vae.eval()
    try:
        elbo_sum, kl_sum = 0.0, 0.0
        for xb in _batches(x, batch_size):
            elbo_sum += log_weights(vae.model, vae.guide, xb, num_particles=num_particles).mean(0).sum().item()
            kl_sum = _add_kl(vae, xb, kl_sum)
    finally:
        vae.train(was_training)
    n = x.shape[0]
    return {"elbo": elbo_sum / n} if kl_sum is None else {"elbo": elbo_sum / n, "kl": kl_sum / n}


def _add_kl(vae, x, total):
    """Running KL sum; ``None`` for models whose KL is undefined (e.g. the autoencoder's
    point mass against a flat prior), which then report no KL at all."""
    if total is None:
        return None
    try:
        return total + vae.kl(x).sum().item()
    except NotImplementedError:
        return None
