"""Einstein summation: one node for any contraction, its gradient an einsum of the other operands.

``einsum("bhqd,bhkd->bhqk", q, k)`` multiplies the operands elementwise over
every combination of the letters and sums the letters missing from the output.
The derivative with respect to one operand is the same kind of contraction:
the upstream gradient (with the output's letters) times every *other*
operand, summed onto that operand's letters. Two-operand contractions (all
that attention needs) run as one batched BLAS matmul, as PyTorch does.
"""

from __future__ import annotations

import string

import numpy as np

from ..autograd import Node


def parse_equation(equation: str, ndims: list[int]) -> tuple[tuple[str, ...], str]:
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


def _matmul_contract(sub_a: str, a: np.ndarray, sub_b: str, b: np.ndarray, out: str) -> np.ndarray:
    """einsum of two operands (distinct letters in each, equal sizes) as one batched matmul."""
    # A letter in one operand only and not in the output is summed away first.
    for c in [c for c in sub_a if c not in sub_b and c not in out]:
        a, sub_a = a.sum(axis=sub_a.index(c)), sub_a.replace(c, "")
    for c in [c for c in sub_b if c not in sub_a and c not in out]:
        b, sub_b = b.sum(axis=sub_b.index(c)), sub_b.replace(c, "")
    batch = [c for c in out if c in sub_a and c in sub_b]
    free_a = [c for c in out if c in sub_a and c not in sub_b]
    free_b = [c for c in out if c in sub_b and c not in sub_a]
    summed = [c for c in sub_a if c in sub_b and c not in out]
    size = dict(zip(sub_a, a.shape)) | dict(zip(sub_b, b.shape))

    def count(letters: list[str]) -> int:
        return int(np.prod([size[c] for c in letters], dtype=np.int64))

    left = a.transpose([sub_a.index(c) for c in batch + free_a + summed])
    right = b.transpose([sub_b.index(c) for c in batch + summed + free_b])
    product = np.matmul(left.reshape(count(batch), count(free_a), count(summed)),
                        right.reshape(count(batch), count(summed), count(free_b)))
    order = batch + free_a + free_b
    product = product.reshape([size[c] for c in order])
    return product.transpose([order.index(c) for c in out])


def contract(subscripts: list[str], arrays: list[np.ndarray], out: str) -> np.ndarray:
    """np.einsum over explicit subscripts, through BLAS when there are two operands of distinct letters."""
    if len(arrays) == 2:
        (sub_a, sub_b), (a, b) = subscripts, arrays
        sizes_agree = all(n == m for c, n in zip(sub_a, a.shape) for d, m in zip(sub_b, b.shape) if c == d)
        if len(set(sub_a)) == len(sub_a) and len(set(sub_b)) == len(sub_b) and sizes_agree:
            return _matmul_contract(sub_a, a, sub_b, b, out)
    return np.einsum(",".join(subscripts) + "->" + out, *arrays, optimize=len(arrays) > 2)


class Einsum(Node):
    """out = einsum(inputs -> output, *operands);  d/d(operand k) = einsum of grad_out with the other operands,
    onto operand k's subscripts."""

    saves = ((0, None),)  # widened to every operand in forward

    def forward(self, *arrays: np.ndarray, inputs: tuple[str, ...], output: str) -> np.ndarray:
        self.arrays, self.inputs, self.output = arrays, inputs, output
        self.saves = tuple((i, None) for i in range(len(arrays)))
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
