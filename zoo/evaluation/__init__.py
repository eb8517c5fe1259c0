"""Evaluation: importance-sampled log-likelihood, diagnostics, latent statistics, gradient SNR."""
from zoo.evaluation.diagnostics import (
    active_units,
    average_kl,
    khat_summary,
    mutual_information,
    psis_khat,
    unit_activity,
)
from zoo.evaluation.gradients import GradientStats, gradient_stats
from zoo.evaluation.likelihood import LogLikelihood, elbo_and_kl, log_likelihood
from zoo.evaluation.report import evaluate

__all__ = ["GradientStats", "LogLikelihood", "active_units", "average_kl", "elbo_and_kl", "evaluate",
           "gradient_stats", "khat_summary", "log_likelihood", "mutual_information", "psis_khat", "unit_activity"]
