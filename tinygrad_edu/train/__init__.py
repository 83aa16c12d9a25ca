"""Training: the `fit` loop, its `History`, and callbacks, as Keras shapes them.

    import tinygrad_edu as tg
    history = tg.train.fit(model, nn.MSELoss(), optimizer, loader, val=val_loader, epochs=50,
                           callbacks=[tg.train.EarlyStopping(patience=10)])
    history.plot()

`fit` is the sources' loop (forward, loss, backward, step) written once, with
validation, schedules, clipping, accumulation, metrics, checkpoints and
resuming; see `fit` for what one epoch does, and `callbacks` for the hooks.
"""

from .callbacks import Callback, CSVLogger, EarlyStopping, ModelCheckpoint, TerminateOnNaN, Trainer
from .diagnose import Finding, diagnose
from .fit import accuracy, fit
from .history import History
from .inspector import Inspector
from .lr_find import LRFinderResult, lr_find
from .sweep import SweepResult, sweep
from .tensorboard import TensorBoard

__all__ = [
    "fit", "History", "Callback", "Trainer", "EarlyStopping", "TerminateOnNaN", "ModelCheckpoint", "CSVLogger",
    "accuracy", "lr_find", "LRFinderResult", "diagnose", "Finding", "sweep", "SweepResult",
    "TensorBoard", "Inspector",
]
