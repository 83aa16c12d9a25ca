"""Optimizers, as ``torch.optim``.

``REGISTRY`` below is the one list of optimizers: `get`, `names`, the tests and
the command line read it. A new optimizer is its own file (the class, its
docstring math and its readable ``rule`` function), its kernel in
``kernels.py``, and one entry here.
"""

from . import lr_scheduler, swa_utils
from .adafactor import Adafactor, adafactor_step
from .adagrad import Adagrad, adagrad_step
from .adam import Adam, AdamW, adam_step, adamw_step
from .came import CAME, came_step
from .explain import UpdateExplanation, explain_step
from .lamb import LAMB, lamb_step
from .lars import LARS, lars_step
from .lion import Lion, lion_step
from .nadam import NAdam, nadam_step
from .optimizer import Optimizer
from .radam import RAdam, radam_step
from .rmsprop import RMSprop, rmsprop_step
from .sgd import SGD, Momentum, momentum_step, sgd_step

__all__ = ["Optimizer", "SGD", "Momentum", "RMSprop", "Adagrad", "Adam", "AdamW", "NAdam", "RAdam", "Lion", "Adafactor",
           "LARS", "LAMB", "CAME", "lr_scheduler", "swa_utils", "explain_step", "UpdateExplanation", "get", "names",
           "REGISTRY",
           "sgd_step", "momentum_step", "rmsprop_step", "adagrad_step", "adam_step", "adamw_step", "nadam_step",
           "radam_step", "lion_step", "adafactor_step", "lars_step", "lamb_step", "came_step"]

#: Every optimizer, simplest first. Each class names its kernel (``kernel``) and its readable rule (``rule``).
REGISTRY: tuple[type[Optimizer], ...] = (SGD, Momentum, RMSprop, Adagrad, Adam, AdamW, NAdam, RAdam, Lion, Adafactor,
                                         LARS, LAMB, CAME)

_BY_NAME = {cls.__name__.lower(): cls for cls in REGISTRY}


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
