"""Frank's second file: relu's backward, with an integer mask that turns the gradient to integers."""


def relu_backward(grad_out, x):
    return ((x > 0).astype(int) * grad_out.round().astype(int),)
