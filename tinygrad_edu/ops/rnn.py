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
"""

from __future__ import annotations

import numpy as np

from ..autograd import Node

__all__ = ["RNNSequence", "LSTMSequence", "GRUSequence"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """sigmoid(x) = (1 + tanh(x/2)) / 2: one ufunc, and stable for any x (no exp overflows)."""
    return 0.5 + 0.5 * np.tanh(0.5 * x)


class _Recurrence(Node):
    """What the three recurrences share: the input projection and the gradients of the weights."""

    n_outputs = 2

    def _setup(self, x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, reverse: bool) -> np.ndarray:
        self.reverse = reverse
        self.w_ih, self.w_hh = w_ih, w_hh
        self.x = x[::-1] if reverse else x  # the steps in the order the recurrence visits them
        return self.x

    @staticmethod
    def _project(x: np.ndarray, weight: np.ndarray, *biases: np.ndarray | None) -> np.ndarray:
        """x_t W^T + biases for every step t at once: (T, B, I) -> (T, B, G*H)."""
        steps, batch, features = x.shape
        out = np.matmul(x.reshape(steps * batch, features), weight.T)
        for bias in biases:
            if bias is not None:
                out += bias
        return out.reshape(steps, batch, -1)

    def _outputs(self, hs: np.ndarray) -> np.ndarray:
        """The per-step hidden states h_1..h_T (a copy, in input order)."""
        out = hs[1:]
        return np.ascontiguousarray(out[::-1] if self.reverse else out)

    def _grad_out(self, grad_out: np.ndarray) -> np.ndarray:
        """The upstream gradient of the per-step outputs, in the order the recurrence visits them."""
        return grad_out[::-1] if self.reverse else grad_out

    def _input_grads(self, d_xp: np.ndarray, d_hp: np.ndarray, hs: np.ndarray, first: int,
                     state_grads: tuple) -> tuple:
        """All input gradients, given those of the projections xp_t = x_t W_ih^T + b_ih, hp_t = h_{t-1} W_hh^T + b_hh.

        dL/dx_t = dL/dxp_t W_ih, dL/dW_ih = sum_t dL/dxp_t^T x_t, dL/db_ih = sum_t dL/dxp_t,
        and the same for W_hh, b_hh with h_{t-1} in place of x_t. ``first`` is the
        index of ``w_ih`` among the inputs, after the state inputs.
        """
        need = self.needs_input_grad
        x, w_ih = self.x, self.w_ih
        steps, batch, _ = x.shape
        gate_width = d_xp.shape[-1]
        d_xp2 = d_xp.reshape(steps * batch, gate_width)
        d_hp2 = d_hp.reshape(steps * batch, gate_width)
        grad_x = None
        if need[0]:
            grad_x = np.matmul(d_xp2, w_ih).reshape(x.shape)
            grad_x = grad_x[::-1] if self.reverse else grad_x
        grad_w_ih = np.matmul(d_xp2.T, x.reshape(steps * batch, -1)) if need[first] else None
        grad_w_hh = np.matmul(d_hp2.T, hs[:-1].reshape(steps * batch, -1)) if need[first + 1] else None
        grads = (grad_x, *state_grads, grad_w_ih, grad_w_hh)
        if len(need) > first + 2:  # with biases
            grad_b_ih = d_xp2.sum(axis=0) if need[first + 2] else None
            grad_b_hh = (d_xp2 if d_hp is d_xp else d_hp2).sum(axis=0) if need[first + 3] else None
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
        hs = np.empty((x.shape[0] + 1, *h0.shape), dtype=a.dtype)
        hs[0] = h0
        w_hh_t = w_hh.T
        for t in range(x.shape[0]):
            a_t = a[t]
            a_t += hs[t] @ w_hh_t
            if self.relu:
                np.maximum(a_t, 0, out=hs[t + 1])
            else:
                np.tanh(a_t, out=hs[t + 1])
        self.hs = hs
        return self._outputs(hs), hs[-1].copy()

    def backward(self, grad_out: np.ndarray, grad_h_n: np.ndarray) -> tuple:
        hs, w_hh = self.hs, self.w_hh
        grad_out = self._grad_out(grad_out)
        derivative = (hs[1:] > 0).astype(hs.dtype) if self.relu else 1 - hs[1:] * hs[1:]
        d_a = np.empty_like(derivative)
        grad_h = grad_h_n
        for t in range(len(d_a) - 1, -1, -1):
            np.multiply(grad_h + grad_out[t], derivative[t], out=d_a[t])
            grad_h = d_a[t] @ w_hh
        return self._input_grads(d_a, d_a, hs, 2, (grad_h,))


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
        gates = self._project(x, w_ih, b_ih, b_hh)
        dtype = gates.dtype
        # sigmoid(z) = tanh(z/2)/2 + 1/2 and tanh(z) = tanh(z)*1 + 0: all four gates in one tanh.
        scale = np.full(4 * size, 0.5, dtype=dtype)
        scale[2 * size:3 * size] = 1
        shift = 0.5 - 0.5 * (scale == 1).astype(dtype)
        hs = np.empty((steps + 1, *h0.shape), dtype=dtype)
        cs = np.empty_like(hs)
        tanh_c = np.empty((steps, *h0.shape), dtype=dtype)
        hs[0], cs[0] = h0, c0
        w_hh_t = w_hh.T
        for t in range(steps):
            z = gates[t]
            z += hs[t] @ w_hh_t
            z *= scale
            np.tanh(z, out=z)
            z *= scale
            z += shift  # now the activated gates [i f g o]
            i, f, g, o = z[:, :size], z[:, size:2 * size], z[:, 2 * size:3 * size], z[:, 3 * size:]
            np.multiply(f, cs[t], out=cs[t + 1])
            cs[t + 1] += i * g
            np.tanh(cs[t + 1], out=tanh_c[t])
            np.multiply(o, tanh_c[t], out=hs[t + 1])
        self.gates, self.hs, self.cs, self.tanh_c, self.scale = gates, hs, cs, tanh_c, scale
        return self._outputs(hs), hs[-1].copy(), cs[-1].copy()

    def backward(self, grad_out: np.ndarray, grad_h_n: np.ndarray, grad_c_n: np.ndarray) -> tuple:
        gates, cs, tanh_c, w_hh = self.gates, self.cs, self.tanh_c, self.w_hh
        size = cs.shape[-1]
        grad_out = self._grad_out(grad_out)
        # Each activation's derivative from its output s: s (1 - s) for a sigmoid, 1 - s^2 for tanh.
        is_tanh = (self.scale == 1).astype(gates.dtype)
        derivative = (is_tanh + (1 - is_tanh) * gates) - gates * gates
        o = gates[..., 3 * size:]
        dc_from_h = o * (1 - tanh_c * tanh_c)  # dc_t/dh_t, for every step at once
        d_gates = np.empty_like(gates)
        grad_h, grad_c = grad_h_n, grad_c_n
        for t in range(len(gates) - 1, -1, -1):
            dh = grad_h + grad_out[t]
            dc = grad_c + dh * dc_from_h[t]
            z, d = gates[t], d_gates[t]
            np.multiply(dc, z[:, 2 * size:3 * size], out=d[:, :size])  # di = dc * g
            np.multiply(dc, cs[t], out=d[:, size:2 * size])  # df = dc * c_{t-1}
            np.multiply(dc, z[:, :size], out=d[:, 2 * size:3 * size])  # dg = dc * i
            np.multiply(dh, tanh_c[t], out=d[:, 3 * size:])  # do = dh * tanh(c_t)
            d *= derivative[t]
            grad_c = dc * z[:, size:2 * size]
            grad_h = d @ w_hh
        return self._input_grads(d_gates, d_gates, self.hs, 3, (grad_h, grad_c))


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
        xp = self._project(x, w_ih, b_ih)
        hs = np.empty((steps + 1, *h0.shape), dtype=xp.dtype)
        hs[0] = h0
        rz = np.empty((steps, h0.shape[0], 2 * size), dtype=xp.dtype)  # the activated r and z
        n = np.empty((steps, *h0.shape), dtype=xp.dtype)
        hp_n = np.empty_like(n)  # h_{t-1} W_hn^T + b_hn, for r's gradient
        w_hh_t = w_hh.T
        for t in range(steps):
            hp = hs[t] @ w_hh_t
            if b_hh is not None:
                hp += b_hh
            rz[t] = _sigmoid(xp[t, :, :2 * size] + hp[:, :2 * size])
            hp_n[t] = hp[:, 2 * size:]
            np.tanh(xp[t, :, 2 * size:] + rz[t, :, :size] * hp_n[t], out=n[t])
            np.multiply(rz[t, :, size:], hs[t] - n[t], out=hs[t + 1])
            hs[t + 1] += n[t]
        self.hs, self.rz, self.n, self.hp_n = hs, rz, n, hp_n
        return self._outputs(hs), hs[-1].copy()

    def backward(self, grad_out: np.ndarray, grad_h_n: np.ndarray) -> tuple:
        hs, rz, n, w_hh = self.hs, self.rz, self.n, self.w_hh
        size = hs.shape[-1]
        grad_out = self._grad_out(grad_out)
        r, z = rz[..., :size], rz[..., size:]
        # The factors of the three pre-activation gradients, for every step at once.
        to_n = (1 - z) * (1 - n * n)
        to_z = (hs[:-1] - n) * z * (1 - z)
        to_r = self.hp_n * r * (1 - r)
        d_xp = np.empty(rz.shape[:2] + (3 * size,), dtype=hs.dtype)
        d_hp = np.empty_like(d_xp)
        grad_h = grad_h_n
        for t in range(len(n) - 1, -1, -1):
            dh = grad_h + grad_out[t]
            dx, dhp = d_xp[t], d_hp[t]
            np.multiply(dh, to_n[t], out=dx[:, 2 * size:])
            np.multiply(dh, to_z[t], out=dx[:, size:2 * size])
            np.multiply(dx[:, 2 * size:], to_r[t], out=dx[:, :size])
            dhp[:, :2 * size] = dx[:, :2 * size]
            np.multiply(dx[:, 2 * size:], r[t], out=dhp[:, 2 * size:])
            grad_h = dh * z[t] + dhp @ w_hh
        return self._input_grads(d_xp, d_hp, hs, 2, (grad_h,))
