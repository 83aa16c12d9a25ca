"""Einstein summation: one node for any contraction, its gradient an einsum of the other operands.

``einsum("bhqd,bhkd->bhqk", q, k)`` multiplies the operands elementwise over
every combination of the letters and sums the letters missing from the output.
The derivative with respect to one operand is the same kind of contraction:
the upstream gradient (with the output's letters) times every *other*
operand, summed onto that operand's letters. Two-operand contractions (all
that attention needs) run as one batched BLAS matmul, as PyTorch does.
"""

from __future__ import annotations

import functools
import math
import string

import numpy as np

from ..autograd import Node


@functools.lru_cache(maxsize=1024)
def parse_equation(equation: str, ndims: tuple[int, ...]) -> tuple[tuple[str, ...], str]:
    """Explicit subscripts for every operand and the output: ``'...'`` spelled out, an implicit output
    (no ``->``: the letters used once, alphabetically) made explicit. Raises ``ValueError`` naming the problem."""
    equation = equation.replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ndims):
        raise ValueError(f"einsum: the equation {equation!r} has {len(terms)} operand(s), but {len(ndims)} "
                         f"tensor(s) were given")
    spare = [c for c in string.ascii_letters if c not in equation]
    broadcast = 0  # how many dimensions '...' stands for, at most
    for term, ndim in zip(terms, ndims):
        if "..." in term:
            broadcast = max(broadcast, ndim - (len(term) - 3))
    ellipsis = "".join(spare[:broadcast])
    inputs = []
    for k, (term, ndim) in enumerate(zip(terms, ndims)):
        if "..." in term:
            named = len(term) - 3
            if named > ndim:
                raise ValueError(f"einsum: operand {k} has subscripts {term!r}, more than its {ndim} dimension(s)")
            term = term.replace("...", ellipsis[broadcast - (ndim - named):], 1)
        if not term.isalpha() or len(term) != ndim:
            raise ValueError(f"einsum: operand {k} has {ndim} dimension(s), but its subscripts in {equation!r} "
                             f"are {terms[k]!r} (expected one letter per dimension, or '...')")
        inputs.append(term)
    if arrow:
        output = rhs.replace("...", ellipsis, 1)
        if not (output.isalpha() or output == "") or len(set(output)) != len(output):
            raise ValueError(f"einsum: the output subscripts {rhs!r} must be distinct letters (or '...')")
        missing = set(output) - set("".join(inputs))
        if missing:
            raise ValueError(f"einsum: output subscript(s) {sorted(missing)} of {equation!r} appear in no operand")
    else:
        counts = {c: "".join(terms).count(c) for c in set("".join(terms)) if c.isalpha()}
        output = ellipsis + "".join(sorted(c for c, n in counts.items() if n == 1))
    return tuple(inputs), output


@functools.lru_cache(maxsize=1024)
def _matmul_plan(sub_a: str, shape_a: tuple, sub_b: str, shape_b: tuple, out: str) -> tuple | None:
    """How to run a two-operand einsum as one batched matmul (None when it cannot: repeated letters, or
    sizes that differ and would need broadcasting). Worked out once per equation and shapes."""
    if len(set(sub_a)) != len(sub_a) or len(set(sub_b)) != len(sub_b):
        return None
    size = dict(zip(sub_a, shape_a))
    for c, n in zip(sub_b, shape_b):
        if size.setdefault(c, n) != n:
            return None
    # A letter in one operand only and not in the output is summed away first.
    sum_a = tuple(i for i, c in enumerate(sub_a) if c not in sub_b and c not in out)
    sum_b = tuple(i for i, c in enumerate(sub_b) if c not in sub_a and c not in out)
    kept_a = [c for i, c in enumerate(sub_a) if i not in sum_a]
    kept_b = [c for i, c in enumerate(sub_b) if i not in sum_b]
    batch = [c for c in out if c in kept_a and c in kept_b]
    free_a = [c for c in out if c in kept_a and c not in kept_b]
    free_b = [c for c in out if c in kept_b and c not in kept_a]
    summed = [c for c in kept_a if c in kept_b and c not in out]

    def count(letters: list[str]) -> int:
        return math.prod(size[c] for c in letters)

    order = batch + free_a + free_b
    return (sum_a, sum_b,
            tuple(kept_a.index(c) for c in batch + free_a + summed), (count(batch), count(free_a), count(summed)),
            tuple(kept_b.index(c) for c in batch + summed + free_b), (count(batch), count(summed), count(free_b)),
            tuple(size[c] for c in order), tuple(order.index(c) for c in out))


def contract(subscripts: list[str], arrays: list[np.ndarray], out: str) -> np.ndarray:
    """np.einsum over explicit subscripts, through one batched BLAS matmul when there are two operands."""
    if len(arrays) == 2:
        (sub_a, sub_b), (a, b) = subscripts, arrays
        plan = _matmul_plan(sub_a, a.shape, sub_b, b.shape, out)
        if plan is not None:
            sum_a, sum_b, perm_a, shape_a, perm_b, shape_b, shape_out, perm_out = plan
            if sum_a:
                a = a.sum(axis=sum_a)
            if sum_b:
                b = b.sum(axis=sum_b)
            product = np.matmul(a.transpose(perm_a).reshape(shape_a), b.transpose(perm_b).reshape(shape_b))
            return product.reshape(shape_out).transpose(perm_out)
    return np.einsum(",".join(subscripts) + "->" + out, *arrays, optimize=len(arrays) > 2)


class Einsum(Node):
    """out = einsum(inputs -> output, *operands);  d/d(operand k) = einsum(grad_out, other operands -> k's letters).

    A letter summed within operand k alone broadcasts the gradient along it; a repeated letter
    (a diagonal) puts it on the diagonal only.
    """

    saves = ((0, 1), (1, 0))  # each operand's value, for the others' gradients (set per call in forward)

    def forward(self, *arrays: np.ndarray, inputs: tuple[str, ...], output: str) -> np.ndarray:
        self.arrays, self.inputs, self.output = arrays, inputs, output
        count = len(arrays)
        self.saves = tuple((i, j) for i in range(count) for j in range(count) if i != j)
        if len(arrays) == 1:
            return np.asarray(np.einsum(inputs[0] + "->" + output, arrays[0]))
        return np.asarray(contract(list(inputs), list(arrays), output))

    def backward(self, grad_out: np.ndarray) -> tuple:
        grads = []
        for k, needed in enumerate(self.needs_input_grad):
            if not needed:
                grads.append(None)
                continue
            target, shape = self.inputs[k], self.arrays[k].shape
            distinct = "".join(dict.fromkeys(target))
            subs = [s for i, s in enumerate(self.inputs) if i != k] + [self.output]
            arrays = [a for i, a in enumerate(self.arrays) if i != k] + [grad_out]
            present = set("".join(subs))
            kept = "".join(c for c in distinct if c in present)
            grad = contract(subs, arrays, kept) if len(arrays) > 1 else np.einsum(subs[0] + "->" + kept, arrays[0])
            size = dict(zip(target, shape))
            if kept != distinct:  # letters summed within operand k alone: every element got the same gradient
                grad = np.broadcast_to(grad.reshape([grad.shape[kept.index(c)] if c in kept else 1 for c in distinct]),
                                       [size[c] if c not in kept else grad.shape[kept.index(c)] for c in distinct])
            if distinct != target:  # a repeated letter (a diagonal): the gradient lands on the diagonal only
                full = np.zeros(shape, dtype=grad.dtype)
                np.einsum(target + "->" + distinct, full)[...] = grad
                grad = full
            grads.append(grad)
        return tuple(grads)
