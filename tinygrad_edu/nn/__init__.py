"""Neural-network building blocks, as ``torch.nn``: modules, layers, losses, init, utils."""

from . import functional, init, utils
from .attention import MultiheadAttention
from .conv import Conv1d, Conv2d
from .layers import (
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    Linear,
    LogSoftmax,
    ModuleDict,
    ModuleList,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .module import Module, Parameter
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

__all__ = [
    "Module", "Parameter", "Linear", "ReLU", "Tanh", "Sigmoid", "LeakyReLU", "Softmax", "LogSoftmax",
    "Dropout", "Flatten", "Identity", "Sequential", "ModuleList", "ModuleDict", "MSELoss", "L1Loss",
    "CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss", "functional", "init", "utils",
    "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
    "MultiheadAttention",
    "Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
]
