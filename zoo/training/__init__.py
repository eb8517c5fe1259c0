"""Training: ``fit`` (minibatches, history, checkpoints, exact resume), ``load``, optimizers."""
from zoo.training.fit import CHECKPOINT, HISTORY, FitConfig, epoch_generator, fit, load

__all__ = ["CHECKPOINT", "HISTORY", "FitConfig", "epoch_generator", "fit", "load"]
