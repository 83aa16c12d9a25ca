"""Recurrent layers: one layer run over a whole sequence, in one direction, as one node.

Each class is one recurrence (Elman RNN, LSTM, GRU). Its ``forward`` computes
the input projection x_t W_ih^T + b_ih of every time step as one matrix
product, then loops over time in Python, one small matrix product h_{t-1} W_hh^T
per step; its ``backward`` is backpropagation through time: the same loop
walked in reverse, carrying dL/dh_{t-1} (and dL/dc_{t-1}) from each step to the
one before, then every weight gradient as one matrix product over all steps
(a weight used at every step gets the *sum* of the steps' contributions).
One node per layer and direction keeps the graph of a sequence model small,
which is what makes it fast at class sizes.

Shared conventions (PyTorch's layouts; G is the number of gates: 1, 4 or 3):

- inputs: ``x`` (T, B, I) time-major; ``h0`` (B, H); for the LSTM ``c0`` (B, H);
  ``w_ih`` (G*H, I); ``w_hh`` (G*H, H); optionally ``b_ih``, ``b_hh`` (G*H,);
- outputs (a tuple): the hidden state of every step (T, B, H), then the last
  hidden state h_T (B, H), and for the LSTM the last cell state c_T (B, H);
- ``reverse=True`` runs the recurrence from the last step to the first (the
  backward direction of a bidirectional layer); outputs stay in input order.

A cell (``nn.LSTMCell``, ...) is the same node with T = 1.

Inside, every per-step array is stored feature-major, (features, B): the
step's product is then W_hh @ h (BLAS's fast layout for a small batch) and
each gate is a contiguous block of rows, so the elementwise work of a step
runs on contiguous memory. The input projection is one batched product
straight into that layout, (T, G*H, B); the gradients of the gates are
gathered as (G*H, T, B), so that each weight gradient is one matrix product
over all steps.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Node
from ._fast import compiled

__all__ = ["RNNSequence", "LSTMSequence", "GRUSequence"]


def _sigmoid_(x: np.ndarray) -> np.ndarray:
    """sigmoid(x) = (1 + tanh(x/2)) / 2, in place: stable for any x (no exp overflows), four ufunc calls."""
    x *= 0.5
    np.tanh(x, out=x)
    x *= 0.5
    x += 0.5
    return x


def _feature_major(a: np.ndarray) -> np.ndarray:
    """(T, B, F) -> (T, F, B), contiguous (and back: it swaps the last two axes)."""
    fast = compiled()
    if fast is None:
        return np.ascontiguousarray(a.transpose(0, 2, 1))
    out = np.empty((a.shape[0], a.shape[2], a.shape[1]), dtype=a.dtype)
    fast.copy3(a.transpose(0, 2, 1), out)  # the same copy, without NumPy's loop per run of B elements
    return out


class _Recurrence(Node):
    """What the three recurrences share: the input projection, the layouts, the gradients of the weights."""

    n_outputs = 2

    def _setup(self, x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, reverse: bool) -> np.ndarray:
        self.reverse = reverse
        self.w_ih, self.w_hh = w_ih, w_hh
        self.x = x[::-1] if reverse else x  # the steps in the order the recurrence visits them
        return self.x

    @staticmethod
    def _project(x: np.ndarray, weight: np.ndarray, *biases: np.ndarray | None) -> np.ndarray:
        """W x_t + biases for every step t at once, feature-major: (T, B, I) -> (T, G*H, B)."""
        out = np.matmul(weight, x.transpose(0, 2, 1))
        biases = [b for b in biases if b is not None]
        if biases:
            out += sum(biases)[:, None]
        return out

    def _outputs(self, hs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """From the states h_0..h_T (T+1, H, B): the outputs h_1..h_T (T, B, H) in input order, and h_T."""
        self.hs = _feature_major(hs)  # (T+1, B, H), for W_hh's gradient
        out = self.hs[1:]
        return np.ascontiguousarray(out[::-1] if self.reverse else out), self.hs[-1].copy()

    def _grad_out(self, grad_out: np.ndarray) -> np.ndarray:
        """The upstream gradient of the outputs, feature-major, in the order the recurrence visits the steps."""
        return _feature_major(grad_out[::-1] if self.reverse else grad_out)

    def _input_grads(self, d_xp: np.ndarray, d_hp: np.ndarray, first: int, state_grads: tuple) -> tuple:
        """All input gradients, given those of the projections xp_t = x_t W_ih^T + b_ih, hp_t = h_{t-1} W_hh^T + b_hh.

        dL/dx_t = dL/dxp_t W_ih, dL/dW_ih = sum_t dL/dxp_t^T x_t, dL/db_ih = sum_t dL/dxp_t,
        and the same for W_hh, b_hh with h_{t-1} in place of x_t; each sum over
        the steps is one matrix product. ``d_xp``, ``d_hp`` are (G*H, T, B),
        ``state_grads`` feature-major (H, B), ``first`` the index of ``w_ih``
        among the inputs.
        """
        need = self.needs_input_grad
        x, hs = self.x, self.hs
        steps, batch, _ = x.shape
        rows = steps * batch
        d_xp2 = d_xp.reshape(-1, rows)  # (G*H, T*B): column t*B + b for step t, sample b
        d_hp2 = d_xp2 if d_hp is d_xp else d_hp.reshape(-1, rows)
        grad_x = None
        if need[0]:
            grad_x = np.matmul(d_xp2.T, self.w_ih).reshape(x.shape)
            grad_x = grad_x[::-1] if self.reverse else grad_x
        grad_w_ih = np.matmul(d_xp2, x.reshape(rows, -1)) if need[first] else None
        grad_w_hh = np.matmul(d_hp2, hs[:-1].reshape(rows, -1)) if need[first + 1] else None
        states = tuple(np.ascontiguousarray(g.T) for g in state_grads)  # back to (B, H)
        grads = (grad_x, *states, grad_w_ih, grad_w_hh)
        if len(need) > first + 2:  # with biases
            grad_b_ih = d_xp2.sum(axis=1) if need[first + 2] else None
            if not need[first + 3]:
                grad_b_hh = None
            elif d_hp is d_xp and grad_b_ih is not None:  # the same sum (RNN, LSTM): computed once
                grad_b_hh = grad_b_ih.copy()
            else:
                grad_b_hh = d_hp2.sum(axis=1)
            grads += (grad_b_ih, grad_b_hh)
        return grads


class RNNSequence(_Recurrence):
    """h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh);  dL/da_t = dL/dh_t * act'(a_t), dL/dh_{t-1} = dL/da_t W_hh.

    Inputs (x, h0, w_ih, w_hh[, b_ih, b_hh]); act is tanh (act' = 1 - h_t^2) or
    relu (act' = [h_t > 0], 0 at the kink as in PyTorch). dL/dh_t is the
    upstream gradient of output t plus what flows back from step t + 1.
    """

    saves = ((0, 2), (2, 0), (3, None))  # x for W_ih's gradient, W_ih for x's, W_hh for the recurrence

    def forward(self, x: np.ndarray, h0: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                b_ih: np.ndarray | None = None, b_hh: np.ndarray | None = None, *,
                nonlinearity: str = "tanh", reverse: bool = False) -> tuple:
        x = self._setup(x, w_ih, w_hh, reverse)
        self.relu = nonlinearity == "relu"
        # Both biases are added at every step alike, so they join the input projection.
        a = self._project(x, w_ih, b_ih, b_hh)
        hs = np.empty((x.shape[0] + 1, *h0.shape[::-1]), dtype=a.dtype)  # h_0..h_T, each (H, B)
        hs[0] = h0.T
        for t in range(x.shape[0]):
            a_t = a[t]
            a_t += w_hh @ hs[t]
            if self.relu:
                np.maximum(a_t, 0, out=hs[t + 1])
            else:
                np.tanh(a_t, out=hs[t + 1])
        self.derivative = (hs[1:] > 0).astype(hs.dtype) if self.relu else 1 - hs[1:] * hs[1:]
        return self._outputs(hs)

    def backward(self, grad_out: np.ndarray, grad_h_n: np.ndarray) -> tuple:
        w_hh, derivative = self.w_hh, self.derivative
        grad_out = self._grad_out(grad_out)
        steps, size, batch = derivative.shape
        d_a = np.empty((size, steps, batch), dtype=derivative.dtype)  # dL/da_t for all t, (H, T, B)
        grad_h = grad_h_n.T
        for t in range(steps - 1, -1, -1):
            d = (grad_h + grad_out[t]) * derivative[t]
            d_a[:, t] = d
            grad_h = w_hh.T @ d
        return self._input_grads(d_a, d_a, 2, (grad_h,))


class LSTMSequence(_Recurrence):
    """The LSTM over a sequence (PyTorch's gate order i, f, g, o), with backprop through time.

    Forward, with [i f g o] = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh split in four:

        i = sigmoid(.), f = sigmoid(.), g = tanh(.), o = sigmoid(.)
        c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)

    Backward, with dh = dL/dh_t (upstream plus from step t + 1) and dc from step t + 1:

        dc += dh * o * (1 - tanh(c_t)^2)
        di = dc * g, df = dc * c_{t-1}, dg = dc * i, do = dh * tanh(c_t)
        each times its activation's derivative (s (1 - s) for a sigmoid, 1 - g^2 for tanh),
        dL/dh_{t-1} = d[i f g o] W_hh,   dL/dc_{t-1} = dc * f.

    Inputs (x, h0, c0, w_ih, w_hh[, b_ih, b_hh]); outputs (h_1..h_T, h_T, c_T).
    """

    n_outputs = 3
    saves = ((0, 3), (3, 0), (4, None))

    def forward(self, x: np.ndarray, h0: np.ndarray, c0: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                b_ih: np.ndarray | None = None, b_hh: np.ndarray | None = None, *, reverse: bool = False) -> tuple:
        x = self._setup(x, w_ih, w_hh, reverse)
        steps, size = x.shape[0], h0.shape[-1]
        state_shape = (steps + 1, size, h0.shape[0])
        self.fast = compiled()
        if self.fast is not None:
            return self._forward_compiled(x, h0, c0, b_ih, b_hh)
        gates = self._project(x, w_ih, b_ih, b_hh)  # (T, 4H, B): rows i, f, g, o
        hs, cs = np.empty(state_shape, dtype=gates.dtype), np.empty(state_shape, dtype=gates.dtype)
        tanh_c = np.empty((steps, size, h0.shape[0]), dtype=gates.dtype)
        hs[0], cs[0] = h0.T, c0.T
        for t in range(steps):
            z = gates[t]
            z += w_hh @ hs[t]
            _sigmoid_(z[:2 * size])
            np.tanh(z[2 * size:3 * size], out=z[2 * size:3 * size])
            _sigmoid_(z[3 * size:])
            i, f, g, o = z[:size], z[size:2 * size], z[2 * size:3 * size], z[3 * size:]
            np.multiply(f, cs[t], out=cs[t + 1])
            cs[t + 1] += i * g
            np.tanh(cs[t + 1], out=tanh_c[t])
            np.multiply(o, tanh_c[t], out=hs[t + 1])
        self.gates, self.cs, self.tanh_c = gates, cs, tanh_c
        output, h_n = self._outputs(hs)
        return output, h_n, cs[-1].T.copy()

    def _forward_compiled(self, x: np.ndarray, h0: np.ndarray, c0: np.ndarray, b_ih: np.ndarray | None,
                          b_hh: np.ndarray | None) -> tuple:
        """The forward loop with the gate arithmetic compiled (ops.kernels.lstm_cell), the tanh in NumPy.

        sigmoid(x) = (1 + tanh(x/2)) / 2, so one tanh over all four gates gives every activation once
        the rows of i, f and o are halved. Halving is exact in binary floating point, so the weights
        and biases of those rows are halved instead, once: the same values as the NumPy loop, in
        5 calls a step instead of 11.
        """
        steps, size, batch = x.shape[0], h0.shape[-1], h0.shape[0]
        half = np.full((4 * size, 1), 0.5, dtype=self.w_hh.dtype)
        half[2 * size:3 * size] = 1
        biases = [half[:, 0] * b for b in (b_ih, b_hh) if b is not None]
        gates = self._project(x, half * self.w_ih, *biases)  # (T, 4H, B), i, f, o rows halved
        w_hh = half * self.w_hh
        hs, cs = np.empty((2, steps + 1, size, batch), dtype=gates.dtype)
        tanh_c = np.empty((steps, size, batch), dtype=gates.dtype)
        hs[0], cs[0] = h0.T, c0.T
        for t in range(steps):
            z = gates[t]
            z += w_hh @ hs[t]
            np.tanh(z, out=z)
            self.fast.lstm_cell(z, cs[t], cs[t + 1])
            np.tanh(cs[t + 1], out=tanh_c[t])
            np.multiply(z[3 * size:], tanh_c[t], out=hs[t + 1])
        self.gates, self.cs, self.tanh_c = gates, cs, tanh_c
        output, h_n = self._outputs(hs)
        return output, h_n, cs[-1].T.copy()

    def backward(self, grad_out: np.ndarray, grad_h_n: np.ndarray, grad_c_n: np.ndarray) -> tuple:
        gates, cs, tanh_c, w_hh = self.gates, self.cs, self.tanh_c, self.w_hh
        size = cs.shape[1]
        grad_out = self._grad_out(grad_out)
        if self.fast is not None:
            return self._backward_compiled(grad_out, grad_h_n, grad_c_n)
        # Each activation's derivative from its output s: s (1 - s) for a sigmoid, 1 - s^2 for tanh.
        derivative = -gates * gates
        derivative[:, :2 * size] += gates[:, :2 * size]
        derivative[:, 2 * size:3 * size] += 1
        derivative[:, 3 * size:] += gates[:, 3 * size:]
        dc_from_h = gates[:, 3 * size:] * (1 - tanh_c * tanh_c)  # dc_t/dh_t = o (1 - tanh(c_t)^2), all steps
        steps, width, batch = gates.shape
        d_gates = np.empty((width, steps, batch), dtype=gates.dtype)  # dL/d[i f g o] for all t, (4H, T, B)
        d = np.empty((width, batch), dtype=gates.dtype)  # one step's, contiguous
        grad_h, grad_c = grad_h_n.T, grad_c_n.T
        for t in range(steps - 1, -1, -1):
            dh = grad_h + grad_out[t]
            dc = grad_c + dh * dc_from_h[t]
            z = gates[t]
            np.multiply(dc, z[2 * size:3 * size], out=d[:size])  # di = dc * g
            np.multiply(dc, cs[t], out=d[size:2 * size])  # df = dc * c_{t-1}
            np.multiply(dc, z[:size], out=d[2 * size:3 * size])  # dg = dc * i
            np.multiply(dh, tanh_c[t], out=d[3 * size:])  # do = dh * tanh(c_t)
            d *= derivative[t]
            d_gates[:, t] = d
            grad_c = dc * z[size:2 * size]
            grad_h = w_hh.T @ d
        return self._input_grads(d_gates, d_gates, 3, (grad_h, grad_c))

    def _backward_compiled(self, grad_out: np.ndarray, grad_h_n: np.ndarray, grad_c_n: np.ndarray) -> tuple:
        """The same recurrence with each step's arithmetic in one compiled call (ops.kernels.lstm_cell_backward)."""
        gates, cs, tanh_c = self.gates, self.cs, self.tanh_c
        steps, width, batch = gates.shape
        w_hh_t = np.ascontiguousarray(self.w_hh.T)  # (H, 4H): each step's product in BLAS's fast layout
        # Each step's dL/d[i f g o] is written contiguously, (T, 4H, B): writing it straight into the
        # (4H, T, B) layout the weight gradients want puts its rows 2 KiB apart, which thrashes the L1
        # cache (measured: the step's kernel 3x slower); one transposing copy at the end is cheaper.
        d_steps = np.empty((steps, width, batch), dtype=gates.dtype)
        grad_h, grad_c = np.ascontiguousarray(grad_h_n.T), np.array(grad_c_n.T, order="C")  # a copy: reused below
        grad_c_prev = np.empty_like(grad_c)
        for t in range(steps - 1, -1, -1):
            d = d_steps[t]
            self.fast.lstm_cell_backward(grad_h, grad_out[t], grad_c, gates[t], cs[t], tanh_c[t], d, grad_c_prev)
            grad_c, grad_c_prev = grad_c_prev, grad_c
            grad_h = w_hh_t @ d
        d_gates = np.empty((width, steps, batch), dtype=gates.dtype)  # (4H, T, B)
        self.fast.copy3(d_steps.transpose(1, 0, 2), d_gates)
        return self._input_grads(d_gates, d_gates, 3, (grad_h, grad_c))


class GRUSequence(_Recurrence):
    """The GRU over a sequence (PyTorch's gate order r, z, n; b_hn inside the reset product).

    Forward, with xp = x_t W_ih^T + b_ih and hp = h_{t-1} W_hh^T + b_hh split in three:

        r = sigmoid(xp_r + hp_r), z = sigmoid(xp_z + hp_z)
        n = tanh(xp_n + r * hp_n),  h_t = (1 - z) * n + z * h_{t-1}

    Backward, with dh = dL/dh_t (upstream plus from step t + 1):

        dn' = dh (1 - z)(1 - n^2),  dz' = dh (h_{t-1} - n) z (1 - z),  dr' = dn' hp_n r (1 - r)
        dL/dxp = [dr' dz' dn'],  dL/dhp = [dr' dz' dn' * r],
        dL/dh_{t-1} = dh * z + dL/dhp W_hh.

    Inputs (x, h0, w_ih, w_hh[, b_ih, b_hh]); outputs (h_1..h_T, h_T).
    """

    saves = ((0, 2), (2, 0), (3, None))

    def forward(self, x: np.ndarray, h0: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                b_ih: np.ndarray | None = None, b_hh: np.ndarray | None = None, *, reverse: bool = False) -> tuple:
        x = self._setup(x, w_ih, w_hh, reverse)
        steps, size = x.shape[0], h0.shape[-1]
        # b_hr and b_hz add at every step alike and join the input projection; b_hn stays inside r * (.).
        b_rz = None if b_hh is None else np.concatenate([b_hh[:2 * size], np.zeros_like(b_hh[2 * size:])])
        xp = self._project(x, w_ih, b_ih, b_rz)  # (T, 3H, B): rows r, z, n
        b_hn = None if b_hh is None else b_hh[2 * size:, None]
        state_shape = (steps + 1, size, h0.shape[0])
        hs = np.empty(state_shape, dtype=xp.dtype)
        hs[0] = h0.T
        rz = xp[:, :2 * size]  # becomes the activated r and z, in place
        n = np.empty((steps, *state_shape[1:]), dtype=xp.dtype)
        hp_n = np.empty_like(n)  # h_{t-1} W_hn^T + b_hn, for r's gradient
        for t in range(steps):
            hp = w_hh @ hs[t]
            rz[t] += hp[:2 * size]
            _sigmoid_(rz[t])
            r, z = rz[t, :size], rz[t, size:]
            hp_n[t] = hp[2 * size:]
            if b_hn is not None:
                hp_n[t] += b_hn
            np.tanh(xp[t, 2 * size:] + r * hp_n[t], out=n[t])
            np.multiply(z, hs[t] - n[t], out=hs[t + 1])
            hs[t + 1] += n[t]
        self.rz, self.n, self.hp_n, self.h_prev = rz, n, hp_n, hs[:-1]
        return self._outputs(hs)

    def backward(self, grad_out: np.ndarray, grad_h_n: np.ndarray) -> tuple:
        rz, n, w_hh = self.rz, self.n, self.w_hh
        size = n.shape[1]
        grad_out = self._grad_out(grad_out)
        r, z = rz[:, :size], rz[:, size:]
        # The factors of the three pre-activation gradients, for every step at once.
        to_n = (1 - z) * (1 - n * n)
        to_z = (self.h_prev - n) * z * (1 - z)
        to_r = self.hp_n * r * (1 - r)
        steps, _, batch = n.shape
        d_xp = np.empty((3 * size, steps, batch), dtype=n.dtype)  # dL/dxp and dL/dhp for all t, (3H, T, B)
        d_hp = np.empty_like(d_xp)
        dx, dhp = np.empty((2, 3 * size, batch), dtype=n.dtype)  # one step's, contiguous
        grad_h = grad_h_n.T
        for t in range(steps - 1, -1, -1):
            dh = grad_h + grad_out[t]
            np.multiply(dh, to_n[t], out=dx[2 * size:])
            np.multiply(dh, to_z[t], out=dx[size:2 * size])
            np.multiply(dx[2 * size:], to_r[t], out=dx[:size])
            dhp[:2 * size] = dx[:2 * size]
            np.multiply(dx[2 * size:], r[t], out=dhp[2 * size:])
            d_xp[:, t], d_hp[:, t] = dx, dhp
            grad_h = dh * z[t] + w_hh.T @ dhp
        return self._input_grads(d_xp, d_hp, 2, (grad_h,))
