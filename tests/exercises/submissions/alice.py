"""Alice: every answer right, written her own way; she checks as she goes and prints a lot."""
import numpy as np

import tinygrad_edu.exercises as ex


def unbroadcast(grad, shape):
    """Sum grad down to shape: the extra leading axes, then the axes that were 1."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


def add_backward(grad_out, x, y):
    return unbroadcast(grad_out, np.shape(x)), unbroadcast(grad_out, np.shape(y))


def relu_backward(grad_out, x):
    return (np.where(x > 0, grad_out, 0.0),)


def adam_step(theta, g, state, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
    beta1, beta2 = betas
    if weight_decay:
        g = g + weight_decay * theta
    m = beta1 * state.get("m", 0.0) + (1 - beta1) * g
    v = beta2 * state.get("v", 0.0) + (1 - beta2) * g * g
    state["m"], state["v"] = m, v
    step = lr / (1 - beta1 ** t)
    return theta - step * m / (np.sqrt(v) / np.sqrt(1 - beta2 ** t) + eps)


def cosine_lr(step, lr, T_max, eta_min=0.0):  # noqa: N803 - PyTorch's name
    return eta_min + (lr - eta_min) * (1 + np.cos(np.pi * step / T_max)) / 2


print(ex.check("backward/add", add_backward))  # does not slow the grading: check() returns at once there
for i in range(20000):
    print("debugging", i)

if __name__ == "__main__":
    raise SystemExit("not run while grading")
