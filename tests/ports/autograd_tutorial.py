"""PyTorch's "Automatic Differentiation with torch.autograd" and "A Gentle Introduction to torch.autograd":
a one-layer logistic model's gradients, requires_grad and detach, no_grad, a vector-Jacobian product with
retain_graph and accumulation, and gradient= for a non-scalar output."""

# ruff: noqa: N801, N803, N806 - the tutorial's own names (X, F, DataLoader, Mnist_CNN) are kept


def main(torch):
    torch.manual_seed(0)
    x = torch.ones(5)
    y = torch.zeros(3)
    w = torch.randn(5, 3, requires_grad=True)
    b = torch.randn(3, requires_grad=True)
    z = torch.matmul(x, w) + b
    loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
    out = [f"init w {w.tolist()}", f"init b {b.tolist()}", f"loss {loss.item():.6f}"]

    loss.backward()
    out.append(f"w.grad {w.grad}")
    out.append(f"b.grad {b.grad}")

    z = torch.matmul(x, w) + b
    out.append(f"requires_grad {z.requires_grad}")
    with torch.no_grad():
        z = torch.matmul(x, w) + b
    out.append(f"requires_grad {z.requires_grad}")
    z = torch.matmul(x, w) + b
    z_det = z.detach()
    out.append(f"requires_grad {z_det.requires_grad}")

    inp = torch.eye(4, 5, requires_grad=True)
    res = (inp + 1).pow(2).t()
    res.backward(torch.ones_like(res), retain_graph=True)
    out.append(f"First call\n{inp.grad}")
    res.backward(torch.ones_like(res), retain_graph=True)
    out.append(f"Second call\n{inp.grad}")
    inp.grad.zero_()
    res.backward(torch.ones_like(res), retain_graph=True)
    out.append(f"Call after zeroing gradients\n{inp.grad}")

    a = torch.tensor([2.0, 3.0], requires_grad=True)
    b = torch.tensor([6.0, 4.0], requires_grad=True)
    Q = 3 * a ** 3 - b ** 2
    external_grad = torch.tensor([1.0, 1.0])
    Q.backward(gradient=external_grad)
    out.append(f"{9 * a ** 2 == a.grad}")
    out.append(f"{-2 * b == b.grad}")

    a = torch.rand(5, 5)
    y = torch.rand((5, 5), requires_grad=True)
    z = torch.rand((5, 5), requires_grad=True)
    out.append(f"Does `a` require gradients?: {(a + y).requires_grad} {(a + a).requires_grad}")
    out.append(f"rand {y[0].tolist()} {z[0].tolist()}")
    return out
