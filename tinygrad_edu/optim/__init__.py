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
           "lr_scheduler", "explain_step", "UpdateExplanation"]
