"""Optimizers, as ``torch.optim``."""

from . import lr_scheduler
from .adafactor import Adafactor
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .explain import UpdateExplanation, explain_step
from .lion import Lion
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .sgd import SGD, Momentum

__all__ = ["Optimizer", "SGD", "Momentum", "RMSprop", "Adagrad", "Adam", "AdamW", "NAdam", "RAdam", "Lion", "Adafactor",
           "lr_scheduler", "explain_step", "UpdateExplanation", "get", "names"]

_BY_NAME = {cls.__name__.lower(): cls for cls in (SGD, Momentum, RMSprop, Adagrad, Adam, AdamW, NAdam, RAdam, Lion,
                                                 Adafactor)}


def names() -> list[str]:
    """The optimizers' names, as `get` accepts them."""
    return [cls.__name__ for cls in _BY_NAME.values()]


def get(name: str) -> type[Optimizer]:
    """The optimizer class called ``name`` (case-insensitive), e.g. ``get("adam")(params, lr=0.1)``.

    Raises:
        KeyError: for an unknown name, listing the valid ones.
    """
    cls = _BY_NAME.get(str(name).lower())
    if cls is None:
        raise KeyError(f"unknown optimizer {name!r}; valid names: {', '.join(names())}")
    return cls
