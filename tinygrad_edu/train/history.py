"""`History`: what `fit` records, one value per epoch, as Keras's ``History``.

The sources' robust recipe ends with "log per epoch: train_loss, val_loss, the
current lr, the main metric". A `History` is exactly that log: a dict from a
name to a list with one entry per epoch,

==================  ==========================================================
``'train_loss'``    the mean of the epoch's batch losses
``'val_loss'``      the validation loss (when `fit` got a validation set)
``'lr'``            the first parameter group's rate used in the epoch's last step
``'accuracy'``      one list per metric on the training batches ...
``'val_accuracy'``  ... and, prefixed ``val_``, on the validation set
==================  ==========================================================

and ``history.epoch`` lists the epoch numbers (from 0, as Keras numbers
them), so ``history['val_loss'][i]`` belongs to epoch ``history.epoch[i]``.

    >>> from tinygrad_edu.train import History
    >>> h = History()
    >>> h.append(0, {"train_loss": 0.5, "lr": 0.1})
    >>> h.append(1, {"train_loss": 0.25, "lr": 0.1})
    >>> h["train_loss"], h.epoch
    ([0.5, 0.25], [0, 1])
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from .._checks import check_int
from .._files import atomic_write_text

__all__ = ["History"]


class History(dict):
    """Per-epoch lists of losses, rates and metrics (a ``dict`` from name to list).

    Every list has one entry per recorded epoch: a name missing from an epoch's
    logs gets ``nan`` there, so the lists always line up with ``epoch``.

    Attributes:
        epoch: the epoch numbers recorded, from 0 as in Keras (epoch ``k`` is
            the ``(k+1)``-th pass over the training data, counted across
            resumed runs).
        inspector: the `Inspector` that watched the run, when one was among
            `fit`'s callbacks (``None`` otherwise), so ``tg.train.diagnose``
            finds it. Not saved: `state_dict` and `to_csv` hold the epochs only.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.epoch: list[int] = []
        self.inspector: Any = None

    def append(self, epoch: int, logs: Mapping[str, Any]) -> None:
        """Record the numbers of one epoch (``logs``: name -> number).

        Everything is checked before anything changes: ``epoch`` an integer,
        ``logs`` a mapping from names to numbers, and every list already held
        as long as ``epoch`` (a list edited by hand to another length is an
        error here rather than a silent misalignment).

        Raises:
            ValueError: naming the bad epoch, name, value or list.
        """
        epoch = check_int("History.append", "epoch", epoch, minimum=0)
        if not isinstance(logs, Mapping):
            raise ValueError(f"History.append: logs must be a mapping from names to numbers, "
                             f"got {type(logs).__name__}")
        values = {}
        for name, value in logs.items():
            if not isinstance(name, str):
                raise ValueError(f"History.append: names must be strings, got {name!r}")
            try:
                values[name] = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"History.append: logs[{name!r}] must be a number, got {value!r:.80}") from None
        if not isinstance(self.epoch, list):
            raise ValueError(f"History.append: history.epoch must be a list, got {type(self.epoch).__name__}")
        recorded = len(self.epoch)
        uneven = {name: (len(v) if isinstance(v, list) else type(v).__name__) for name, v in self.items()
                  if not isinstance(v, list) or len(v) != recorded}
        if uneven:
            raise ValueError(f"History.append: the history has {recorded} epochs but lists of lengths {uneven} "
                             f"(edited by hand?); every list must have one entry per epoch")
        self.epoch.append(epoch)
        for name, value in values.items():
            # A name seen for the first time is padded with nan for the epochs before it.
            self.setdefault(name, [math.nan] * recorded).append(value)
        for values in self.values():
            if len(values) == recorded:
                values.append(math.nan)

    # -- saving --------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Plain data (lists of numbers) for ``tg.save``; `from_state_dict` reads it back."""
        return {"epoch": list(self.epoch), "logs": {name: list(values) for name, values in self.items()}}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Replace the contents with a `state_dict`."""
        if not isinstance(state_dict, Mapping) or set(state_dict) != {"epoch", "logs"}:
            raise ValueError("History.load_state_dict expects a dict with 'epoch' and 'logs', "
                             "as History.state_dict() returns")
        try:
            epochs = [check_int("History.load_state_dict", "an epoch", e, minimum=0) for e in state_dict["epoch"]]
            logs = {str(name): [float(v) for v in values] for name, values in state_dict["logs"].items()}
        except (TypeError, ValueError, AttributeError) as err:
            raise ValueError(f"History.load_state_dict: 'epoch' must be a list of integers and 'logs' a dict of "
                             f"lists of numbers, as History.state_dict() returns ({err})") from None
        uneven = {name: len(values) for name, values in logs.items() if len(values) != len(epochs)}
        if uneven:
            raise ValueError(f"History.load_state_dict: {len(epochs)} epochs but lists of lengths {uneven}")
        self.clear()
        self.update(logs)
        self.epoch = epochs

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Any]) -> History:
        """A new History holding a `state_dict` (as a checkpoint stores it)."""
        history = cls()
        history.load_state_dict(state_dict)
        return history

    def to_csv(self, path: str | os.PathLike, separator: str = ",") -> None:
        """Write one row per epoch (``epoch`` first, then every list), atomically.

        The file is written beside ``path`` under a temporary name and then
        renamed over it, so a reader (or a crash) never sees half a file.
        Numbers are written with ``repr``, which reads back to the same float.
        """
        path = os.fspath(path)
        names = list(self)
        lines = [separator.join(["epoch", *names])]
        for row, epoch in enumerate(self.epoch):
            lines.append(separator.join([str(epoch), *(repr(self[name][row]) for name in names)]))
        atomic_write_text(path, "\n".join(lines) + "\n", who="History.to_csv")

    # -- looking at it -----------------------------------------------------------------

    def plot(self, ax: Any = None, title: str | None = None, **kwargs: Any) -> Any:
        """Draw the loss curves, the rate on a twin axis and the metrics; return the Figure.

        The same as ``tg.viz.plot_history(self, ...)`` (plotting lives in
        ``tg.viz``; keyword arguments go to it). Nothing is shown: save the
        figure with ``tg.viz.save_figure(fig, path)``, or let Jupyter display it.
        """
        from .. import viz  # imported here so `import tinygrad_edu` does not import matplotlib

        return viz.plot_history(self, ax=ax, title=title, **kwargs)

    def __repr__(self) -> str:
        return f"History(epochs={self.epoch}, {dict.__repr__(self)})"
