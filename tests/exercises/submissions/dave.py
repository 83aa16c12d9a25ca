"""Dave: a loop at the top level that never ends; his functions are still graded."""


def relu_backward(grad_out, x):
    return (grad_out * (x > 0),)


converged = False
while not converged:   # never changes
    pass


def cosine_lr(step, lr, T_max, eta_min=0.0):  # noqa: N803 - PyTorch's name
    while True:        # an infinite loop inside the answer: a timeout for this exercise
        pass
