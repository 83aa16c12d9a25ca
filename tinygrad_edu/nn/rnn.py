"""Recurrent layers, as ``torch.nn``: `RNN`, `LSTM`, `GRU` and their cells.

A layer runs each of its ``num_layers`` layers (and each direction) over the
whole sequence as one graph node (`tinygrad_edu.ops.rnn`), whose backward is
backpropagation through time. Parameters, their names, layouts, order and
default initialisation are PyTorch's, so ``state_dict`` keys match and a
PyTorch ``state_dict`` converted to arrays loads.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .. import ops
from .._checks import check_int, check_probability
from ..device import check_device
from ..dtypes import get_default_dtype
from ..tensor import ShapeError, Tensor, _apply, _wrap, cat, stack
from . import functional as F
from . import init
from .module import Module, Parameter

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _recurrence(mode: str, x: Tensor, state: tuple, weights: list, reverse: bool) -> tuple[Tensor, ...]:
    """One layer in one direction over a time-major sequence: (outputs, h_T[, c_T])."""
    if mode == "LSTM":
        return _apply(ops.LSTMSequence, x, *state, *weights, reverse=reverse)
    if mode == "GRU":
        return _apply(ops.GRUSequence, x, *state, *weights, reverse=reverse)
    return _apply(ops.RNNSequence, x, *state, *weights, reverse=reverse,
                  nonlinearity="relu" if mode == "RNN_RELU" else "tanh")


def _shape_text(shape: tuple) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


class RNNBase(Module):
    """What `RNN`, `LSTM` and `GRU` share: parameters, checks, and the loop over layers and directions.

    Parameters, per layer k and direction (suffix ``_reverse`` for the backward
    one), in PyTorch's order: ``weight_ih_l{k}`` (G*hidden_size, input size of
    layer k), ``weight_hh_l{k}`` (G*hidden_size, hidden_size), ``bias_ih_l{k}``,
    ``bias_hh_l{k}`` (G*hidden_size), G the number of gates (1, 4, 3). The
    input size of layer k > 0 is D*hidden_size (D = 2 if bidirectional).
    Every parameter starts U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        name = "RNN" if mode.startswith("RNN") else mode
        self.mode = mode
        self.input_size = check_int(name, "input_size", input_size, minimum=1)
        self.hidden_size = check_int(name, "hidden_size", hidden_size, minimum=1)
        self.num_layers = check_int(name, "num_layers", num_layers, minimum=1)
        self.dropout = check_probability(name, "dropout", dropout)
        if proj_size:
            raise NotImplementedError(f"{name}: proj_size={proj_size} (projections) is not supported; use proj_size=0")
        self.proj_size = 0
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout={dropout} acts between recurrent layers, so with num_layers=1 it "
                          f"does nothing (as in PyTorch, which warns the same)", UserWarning, stacklevel=3)
        self.bias, self.batch_first, self.bidirectional = bool(bias), bool(batch_first), bool(bidirectional)
        if device is not None:
            check_device(device)  # anything but the CPU is a clear error
        dtype = dtype or get_default_dtype()
        gate_size = _GATES[mode] * hidden_size
        directions = 2 if bidirectional else 1
        self._flat_weights_names: list[str] = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * directions
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = {f"weight_ih{suffix}": (gate_size, layer_input),
                          f"weight_hh{suffix}": (gate_size, hidden_size)}
                if bias:
                    shapes.update({f"bias_ih{suffix}": (gate_size,), f"bias_hh{suffix}": (gate_size,)})
                for key, shape in shapes.items():
                    setattr(self, key, Parameter(Tensor(np.zeros(shape), dtype=dtype)))
                    self._flat_weights_names.append(key)
        self.reset_parameters()

    @property
    def _name(self) -> str:
        return type(self).__name__

    def reset_parameters(self) -> None:
        """PyTorch's default: every parameter U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), in order."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -bound, bound)

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters grouped per layer and direction, as PyTorch's ``all_weights``."""
        per = 4 if self.bias else 2
        names = self._flat_weights_names
        return [[getattr(self, n) for n in names[i:i + per]] for i in range(0, len(names), per)]

    # -- checks ----------------------------------------------------------------

    def _check_input(self, input: Tensor) -> bool:  # noqa: A002
        """Whether ``input`` is batched; a clear error if its shape cannot be a sequence for this layer."""
        if not isinstance(input, Tensor):
            raise TypeError(f"{self._name}: input must be a Tensor, got {type(input).__name__}")
        form = "(N, L, H_in)" if self.batch_first else "(L, N, H_in)"
        if input.ndim not in (2, 3) or input.shape[-1] != self.input_size:
            raise ShapeError(
                f"{self._name}: expected input of shape {form.replace('H_in', str(self.input_size))} "
                f"or unbatched (L, {self.input_size}) (input_size={self.input_size}), got shape {input.shape}")
        weight_dtype = self.weight_ih_l0.dtype
        if input.dtype != weight_dtype:
            raise TypeError(f"{self._name}: input must have the parameters' dtype {weight_dtype}, got dtype "
                            f"{input.dtype} (convert one of them with .to(...))")
        return input.ndim == 3

    def _check_state(self, what: str, state: Any, expected: tuple, batched: bool) -> None:
        if not isinstance(state, Tensor):
            raise TypeError(f"{self._name}: {what} must be a Tensor, got {type(state).__name__}")
        if state.shape != expected:
            form = "(D*num_layers, N, H_out)" if batched else "(D*num_layers, H_out) for an unbatched input"
            raise ShapeError(f"{self._name}: expected {what} of shape {_shape_text(expected)} {form}, "
                             f"got shape {state.shape}")

    # -- forward ---------------------------------------------------------------

    def forward(self, input: Tensor, hx: Any = None) -> tuple:  # noqa: A002
        """Run the layers over the sequence: (output, h_n), or (output, (h_n, c_n)) for the LSTM."""
        batched = self._check_input(input)
        lstm = self.mode == "LSTM"
        directions = 2 if self.bidirectional else 1
        batch = (input.shape[0] if self.batch_first else input.shape[1]) if batched else 1
        expected = (directions * self.num_layers, batch, self.hidden_size) if batched else (
            directions * self.num_layers, self.hidden_size)
        states: list = []  # one tuple of state tensors per state kind (h, and c for the LSTM)
        if hx is not None:
            given = hx
            if lstm:
                if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                    raise TypeError(f"{self._name}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
                self._check_state("h_0", hx[0], expected, batched)
                self._check_state("c_0", hx[1], expected, batched)
            else:
                given = (hx,)
                self._check_state("h_0", hx, expected, batched)
            for state in given:
                if not batched:
                    state = state.unsqueeze(1)
                states.append([state[k] for k in range(expected[0])])
        else:
            zeros = np.zeros((batch, self.hidden_size), dtype=input.dtype)
            states = [[_wrap(zeros)] * expected[0] for _ in range(2 if lstm else 1)]
        x = input if batched else input.unsqueeze(1)
        if self.batch_first and batched:
            x = x.transpose(0, 1)
        finals: list[list[Tensor]] = [[] for _ in states]
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                k = layer * directions + direction
                weights = [getattr(self, n) for n in self._layer_names(k)]
                result = _recurrence(self.mode, x, tuple(s[k] for s in states), weights, reverse=direction == 1)
                outputs.append(result[0])
                for kind, final in enumerate(result[1:]):
                    finals[kind].append(final)
            x = outputs[0] if directions == 1 else cat(outputs, dim=2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        if self.batch_first and batched:
            x = x.transpose(0, 1)
        if not batched:
            x = x.squeeze(1)
        h_c = [final[0].unsqueeze(0) if len(final) == 1 else stack(final) for final in finals]
        if not batched:
            h_c = [s.squeeze(1) for s in h_c]
        return (x, tuple(h_c)) if lstm else (x, h_c[0])

    def _layer_names(self, k: int) -> list[str]:
        per = 4 if self.bias else 2
        return self._flat_weights_names[k * per:(k + 1) * per]

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            text += ", nonlinearity='relu'"
        if not self.bias:
            text += ", bias=False"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text


class RNN(RNNBase):
    """The Elman RNN, as ``torch.nn.RNN``: for each layer and time step t,

        h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)    (relu with nonlinearity='relu')

    where x_t is the input (layer 0) or the previous layer's output h_t (with
    dropout in training when ``dropout > 0``, except after the last layer).

    Args:
        input_size: features of the input x_t (H_in).
        hidden_size: features of the hidden state h_t (H_out).
        num_layers: recurrent layers stacked (default 1).
        nonlinearity: ``'tanh'`` (default) or ``'relu'``.
        bias: whether to learn b_ih and b_hh (default True).
        batch_first: input and output as (N, L, H) instead of (L, N, H) (default False).
        dropout: probability of dropout on every layer's output but the last (default 0).
        bidirectional: also run the sequence backwards; outputs joined along features (default False).
        dtype: the parameters' dtype (the default float dtype if omitted).

    Forward ``(input, h_0=None)``: input (L, N, H_in), (N, L, H_in) with
    ``batch_first``, or unbatched (L, H_in); h_0 (D*num_layers, N, H_out) or
    (D*num_layers, H_out), zeros if omitted (D = 2 if bidirectional else 1).
    Returns ``(output, h_n)``: output (L, N, D*H_out) (batch_first: (N, L, D*H_out)),
    the last layer's h_t for every t; h_n (D*num_layers, N, H_out), every
    layer's final state.

    Example:
        >>> import tinygrad_edu as tg
        >>> rnn = tg.nn.RNN(10, 20, num_layers=2)
        >>> output, h_n = rnn(tg.randn(5, 3, 10), tg.randn(2, 3, 20))
        >>> output.shape, h_n.shape
        ((5, 3, 20), (2, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: Any = None, dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size,
                         num_layers, bias, batch_first, dropout, bidirectional, device=device, dtype=dtype)


class LSTM(RNNBase):
    """Long short-term memory, as ``torch.nn.LSTM``: for each layer and time step t,

        i_t = sigmoid(x_t W_ii^T + b_ii + h_{t-1} W_hi^T + b_hi)
        f_t = sigmoid(x_t W_if^T + b_if + h_{t-1} W_hf^T + b_hf)
        g_t = tanh(x_t W_ig^T + b_ig + h_{t-1} W_hg^T + b_hg)
        o_t = sigmoid(x_t W_io^T + b_io + h_{t-1} W_ho^T + b_ho)
        c_t = f_t * c_{t-1} + i_t * g_t
        h_t = o_t * tanh(c_t)

    ``weight_ih_l{k}`` stacks W_ii, W_if, W_ig, W_io (4*hidden_size rows, gate
    order i, f, g, o as PyTorch); likewise ``weight_hh``, ``bias_ih``, ``bias_hh``.

    Args:
        input_size: features of the input x_t (H_in).
        hidden_size: features of h_t and c_t (H_out).
        num_layers: recurrent layers stacked (default 1).
        bias: whether to learn the biases (default True).
        batch_first: input and output as (N, L, H) instead of (L, N, H) (default False).
        dropout: probability of dropout on every layer's output but the last (default 0).
        bidirectional: also run the sequence backwards (default False).
        proj_size: must be 0 (projections are not supported here).
        dtype: the parameters' dtype (the default float dtype if omitted).

    Forward ``(input, (h_0, c_0)=None)``; shapes as `RNN`. Returns
    ``(output, (h_n, c_n))``.

    Example:
        >>> import tinygrad_edu as tg
        >>> lstm = tg.nn.LSTM(10, 20, batch_first=True)
        >>> output, (h_n, c_n) = lstm(tg.randn(3, 5, 10))
        >>> output.shape, h_n.shape, c_n.shape
        ((3, 5, 20), (1, 3, 20), (1, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device: Any = None, dtype: Any = None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device=device, dtype=dtype)


class GRU(RNNBase):
    """Gated recurrent unit, as ``torch.nn.GRU``: for each layer and time step t,

        r_t = sigmoid(x_t W_ir^T + b_ir + h_{t-1} W_hr^T + b_hr)
        z_t = sigmoid(x_t W_iz^T + b_iz + h_{t-1} W_hz^T + b_hz)
        n_t = tanh(x_t W_in^T + b_in + r_t * (h_{t-1} W_hn^T + b_hn))
        h_t = (1 - z_t) * n_t + z_t * h_{t-1}

    ``weight_ih_l{k}`` stacks W_ir, W_iz, W_in (gate order r, z, n as PyTorch);
    note b_hn sits inside the reset product.

    Args:
        input_size: features of the input x_t (H_in).
        hidden_size: features of h_t (H_out).
        num_layers: recurrent layers stacked (default 1).
        bias: whether to learn the biases (default True).
        batch_first: input and output as (N, L, H) instead of (L, N, H) (default False).
        dropout: probability of dropout on every layer's output but the last (default 0).
        bidirectional: also run the sequence backwards (default False).
        dtype: the parameters' dtype (the default float dtype if omitted).

    Forward ``(input, h_0=None)``; shapes and outputs as `RNN`.

    Example:
        >>> import tinygrad_edu as tg
        >>> gru = tg.nn.GRU(10, 20, bidirectional=True)
        >>> output, h_n = gru(tg.randn(5, 3, 10))
        >>> output.shape, h_n.shape
        ((5, 3, 40), (2, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)


# ---------------------------------------------------------------------------
# Cells: one time step
# ---------------------------------------------------------------------------


class RNNCellBase(Module):
    """What the cells share: ``weight_ih`` (G*hidden_size, input_size), ``weight_hh``, ``bias_ih``, ``bias_hh``.

    Initialised as PyTorch: every parameter U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
    A cell step is the recurrence node of its layer over one time step.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool, gates: int, dtype: Any = None) -> None:
        super().__init__()
        name = type(self).__name__
        self.input_size = check_int(name, "input_size", input_size, minimum=1)
        self.hidden_size = check_int(name, "hidden_size", hidden_size, minimum=1)
        self.bias = bool(bias)
        dtype = dtype or get_default_dtype()
        self.weight_ih = Parameter(Tensor(np.zeros((gates * hidden_size, input_size)), dtype=dtype))
        self.weight_hh = Parameter(Tensor(np.zeros((gates * hidden_size, hidden_size)), dtype=dtype))
        if bias:
            self.bias_ih = Parameter(Tensor(np.zeros(gates * hidden_size), dtype=dtype))
            self.bias_hh = Parameter(Tensor(np.zeros(gates * hidden_size), dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: every parameter U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -bound, bound)

    def _weights(self) -> list[Tensor]:
        return [self.weight_ih, self.weight_hh] + ([self.bias_ih, self.bias_hh] if self.bias else [])

    def _check(self, input: Tensor, states: tuple, names: tuple) -> tuple[bool, list[Tensor]]:  # noqa: A002
        """Whether the input is batched, and the states as (1, N, H) sequences' initial states (zeros if None)."""
        name = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise ShapeError(f"{name}: expected input of shape (N, {self.input_size}) or unbatched "
                             f"({self.input_size},) (input_size={self.input_size}), got shape {input.shape}")
        if input.dtype != self.weight_ih.dtype:
            raise TypeError(f"{name}: input must have the parameters' dtype {self.weight_ih.dtype}, got dtype "
                            f"{input.dtype} (convert one of them with .to(...))")
        batched = input.ndim == 2
        expected = (input.shape[0], self.hidden_size) if batched else (self.hidden_size,)
        out = []
        for state, what in zip(states, names):
            if state is None:
                out.append(_wrap(np.zeros((expected[0] if batched else 1, self.hidden_size), dtype=input.dtype)))
                continue
            if not isinstance(state, Tensor):
                raise TypeError(f"{name}: {what} must be a Tensor, got {type(state).__name__}")
            if state.shape != expected:
                raise ShapeError(f"{name}: expected {what} of shape {_shape_text(expected)} "
                                 f"(batch of the input, hidden_size={self.hidden_size}), got shape {state.shape}")
            out.append(state if batched else state.unsqueeze(0))
        return batched, out

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            text += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            text += f", nonlinearity={self.nonlinearity!r}"
        return text


class RNNCell(RNNCellBase):
    """One step of the Elman RNN, as ``torch.nn.RNNCell``: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh).

    Args:
        input_size: features of the input x.
        hidden_size: features of the hidden state h.
        bias: whether to learn b_ih and b_hh (default True).
        nonlinearity: ``'tanh'`` (default) or ``'relu'``.
        dtype: the parameters' dtype (the default float dtype if omitted).

    Forward ``(input, hx=None)``: input (N, H_in) or (H_in,), hx (N, H_out) or
    (H_out,), zeros if omitted. Returns h' of hx's shape.

    Example:
        >>> import tinygrad_edu as tg
        >>> cell = tg.nn.RNNCell(10, 20)
        >>> h = tg.zeros(3, 20)
        >>> for x in tg.randn(6, 3, 10):
        ...     h = cell(x, h)
        >>> h.shape
        (3, 20)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device: Any = None, dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, 1, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        batched, (h,) = self._check(input, (hx,), ("hx",))
        x = input.reshape(1, *h.shape[:1], self.input_size)
        mode = "RNN_RELU" if self.nonlinearity == "relu" else "RNN_TANH"
        h_new = _recurrence(mode, x, (h,), self._weights(), reverse=False)[1]
        return h_new if batched else h_new.squeeze(0)


class LSTMCell(RNNCellBase):
    """One step of the LSTM, as ``torch.nn.LSTMCell`` (gate order i, f, g, o):

        [i f g o] = x W_ih^T + b_ih + h W_hh^T + b_hh;  i, f, o through sigmoid, g through tanh
        c' = f * c + i * g,   h' = o * tanh(c')

    Args:
        input_size: features of the input x.
        hidden_size: features of h and c.
        bias: whether to learn b_ih and b_hh (default True).
        dtype: the parameters' dtype (the default float dtype if omitted).

    Forward ``(input, hx=None)`` with hx = (h, c), each (N, H_out) or (H_out,),
    zeros if omitted. Returns ``(h', c')``.

    Example:
        >>> import tinygrad_edu as tg
        >>> cell = tg.nn.LSTMCell(10, 20)
        >>> h, c = cell(tg.randn(3, 10))
        >>> h.shape, c.shape
        ((3, 20), (3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, dtype)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:  # noqa: A002
        if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError(f"LSTMCell: hx must be a tuple (h, c), got {type(hx).__name__}")
        batched, (h, c) = self._check(input, (None, None) if hx is None else tuple(hx), ("h", "c"))
        x = input.reshape(1, *h.shape[:1], self.input_size)
        _, h_new, c_new = _recurrence("LSTM", x, (h, c), self._weights(), reverse=False)
        return (h_new, c_new) if batched else (h_new.squeeze(0), c_new.squeeze(0))


class GRUCell(RNNCellBase):
    """One step of the GRU, as ``torch.nn.GRUCell`` (gate order r, z, n):

        r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr),  z = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz)
        n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn)),  h' = (1 - z) * n + z * h

    Args:
        input_size: features of the input x.
        hidden_size: features of h.
        bias: whether to learn b_ih and b_hh (default True).
        dtype: the parameters' dtype (the default float dtype if omitted).

    Forward ``(input, hx=None)``: shapes as `RNNCell`. Returns h'.

    Example:
        >>> import tinygrad_edu as tg
        >>> cell = tg.nn.GRUCell(10, 20)
        >>> cell(tg.randn(3, 10)).shape
        (3, 20)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        batched, (h,) = self._check(input, (hx,), ("hx",))
        x = input.reshape(1, *h.shape[:1], self.input_size)
        h_new = _recurrence("GRU", x, (h,), self._weights(), reverse=False)[1]
        return h_new if batched else h_new.squeeze(0)
