"""Frank hands in a folder: this file and part2.py make one submission."""
import math


def cosine_lr(step, lr, T_max, eta_min=0.0):  # noqa: N803 - PyTorch's name
    return eta_min + 0.5 * (lr - eta_min) * (1 + math.cos(math.pi * step / T_max))
