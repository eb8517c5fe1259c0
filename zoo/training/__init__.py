"""Training: ``fit`` (a torch optimizer on ``differentiable_loss``, history, checkpoints, exact
resume), the run directory (:class:`Run`: layout, data, lock, overwrite and resume), ``load``,
optimizers by name."""
from zoo.training.checkpoint import CheckpointError, load
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
from zoo.training.run import CHECKPOINT, CONFIG, DATA, EVAL, EVAL_PARTS, HISTORY, PREVIOUS, Run, RunInUse

__all__ = ["CHECKPOINT", "CONFIG", "DATA", "EVAL", "EVAL_PARTS", "HISTORY", "PREVIOUS", "CheckpointError", "FitConfig",
           "OPTIMIZERS", "Run", "RunInUse", "TrainingDiverged", "epoch_generator", "fit", "load", "make_optimizer",
           "step", "train_epoch", "trainable_parameters"]
