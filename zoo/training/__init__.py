"""Training: ``fit`` (a torch optimizer on ``differentiable_loss``, history, checkpoints, exact
resume), ``load``, optimizers by name."""
from zoo.training.checkpoint import CHECKPOINT, CONFIG, HISTORY, PREVIOUS, CheckpointError, load
from zoo.training.fit import (
    FitConfig,
    TrainingDiverged,
    epoch_generator,
    fit,
    step,
    train_epoch,
    trainable_parameters,
)
from zoo.training.optim import OPTIMIZERS, make_optimizer

__all__ = ["CHECKPOINT", "CONFIG", "HISTORY", "PREVIOUS", "CheckpointError", "TrainingDiverged", "OPTIMIZERS", "FitConfig", "epoch_generator", "fit", "load",
           "make_optimizer", "step", "train_epoch", "trainable_parameters"]
