"""Bob: the mistakes everybody makes."""
import numpy as np


def add_backward(grad_out, x, y):
    return grad_out, grad_out          # forgot to sum over the broadcast axes


def relu_backward(grad_out, x):
    return (grad_out * (x >= 0),)      # the gradient at 0 taken as 1


def adam_step(theta, g, state, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
    beta1, beta2 = betas
    g = g + weight_decay * theta
    state["m"] = beta1 * state.get("m", 0) + (1 - beta1) * g
    state["v"] = beta2 * state.get("v", 0) + (1 - beta2) * g ** 2
    return theta - lr * state["m"] / (np.sqrt(state["v"]) + eps)   # no bias correction


def cosine_lr(step, lr, T_max, eta_min=0.0):  # noqa: N803 - PyTorch's name
    return eta_min + (lr - eta_min) * (1 + np.cos(np.pi * step / T_max)) / 2
