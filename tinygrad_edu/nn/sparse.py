"""`Embedding`, as ``torch.nn.Embedding``: a learned table of vectors looked up by integer index.

Also the functional forms ``embedding`` and ``one_hot`` (re-exported by
`tinygrad_edu.nn.functional`). An embedding lookup is the same as multiplying a
one-hot row by the table, ``one_hot(i) @ weight``, without building the one-hot
matrix; its gradient adds each position's upstream gradient into the row it read.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from .._checks import check_int, check_positive
from ..autograd import bump_version
from ..device import check_device
from ..dtypes import get_default_dtype
from ..tensor import ShapeError, Tensor, _apply, _wrap
from . import init
from .module import Module, Parameter

__all__ = ["Embedding", "embedding", "one_hot"]


def _indices(who: str, input: Any, num_embeddings: int) -> np.ndarray:  # noqa: A002
    """``input`` as an integer index array, every index checked to lie in [0, num_embeddings)."""
    indices = input.numpy() if isinstance(input, Tensor) else np.asarray(input)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"{who}: indices must be an integer tensor (int64 or int32), got dtype {indices.dtype}")
    if indices.size and (indices.min() < 0 or indices.max() >= num_embeddings):
        bad = indices[(indices < 0) | (indices >= num_embeddings)].flat[0]
        raise IndexError(f"{who}: index {int(bad)} is out of range for {num_embeddings} embeddings "
                         f"(expected indices in [0, {num_embeddings - 1}])")
    return indices


def _padding_index(who: str, padding_idx: int | None, num_embeddings: int) -> int | None:
    """``padding_idx`` as a row number in [0, num_embeddings) (negative counts from the end), or ``None``."""
    if padding_idx is None:
        return None
    padding_idx = check_int(who, "padding_idx", padding_idx, minimum=-num_embeddings, maximum=num_embeddings - 1)
    return padding_idx + num_embeddings if padding_idx < 0 else padding_idx


def _renorm_rows(weight: Tensor, indices: np.ndarray, max_norm: float, norm_type: float) -> None:
    """Rescale, in place, the looked-up rows whose norm exceeds ``max_norm`` to that norm (PyTorch's renorm)."""
    table = weight.numpy()
    rows = np.unique(indices)
    norms = np.linalg.norm(table[rows], ord=norm_type, axis=1)
    over = norms > max_norm
    if over.any():
        table[rows[over]] *= (max_norm / (norms[over] + 1e-7))[:, None].astype(table.dtype)
        bump_version(weight)


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,  # noqa: A002
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Look up rows of ``weight`` by integer index, as ``torch.nn.functional.embedding``.

    out[..., :] = weight[input[...], :], so an index tensor of shape (*) gives
    (*, embedding_dim). d out / d weight adds each position's upstream gradient
    into the row it read; the ``padding_idx`` row gets none. With ``max_norm``
    the rows looked up are first rescaled in place to norm at most ``max_norm``
    (the ``norm_type``-norm); ``scale_grad_by_freq`` divides each row's gradient
    by how often its index occurs in the batch. ``sparse`` gradients are not
    supported (dense ones always are).

    Example:
        >>> import tinygrad_edu as tg
        >>> table = tg.tensor([[0.0, 0.0], [1.0, 2.0], [3.0, 4.0]])
        >>> tg.nn.functional.embedding(tg.tensor([2, 1]), table).tolist()
        [[3.0, 4.0], [1.0, 2.0]]
    """
    if sparse:
        raise NotImplementedError("embedding: sparse=True (sparse gradients) is not supported; use sparse=False")
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        shape = getattr(weight, "shape", None)
        raise ShapeError(f"embedding: weight must be a 2-D Tensor (num_embeddings, embedding_dim), got {shape}")
    num_embeddings = weight.shape[0]
    indices = _indices("embedding", input, num_embeddings)
    padding_idx = _padding_index("embedding", padding_idx, num_embeddings)
    if max_norm is not None:
        _renorm_rows(weight, indices, check_positive("embedding", "max_norm", max_norm), norm_type)
    return _apply(ops.Embedding, weight, indices=indices, padding_idx=padding_idx,
                  scale_grad_by_freq=bool(scale_grad_by_freq))


def one_hot(input: Any, num_classes: int = -1) -> Tensor:  # noqa: A002 - PyTorch's name
    """One-hot encoding of integer class indices, as ``torch.nn.functional.one_hot``.

    An index tensor of shape (*) becomes an int64 tensor of shape
    (*, num_classes), 1 at each index and 0 elsewhere; ``num_classes=-1``
    takes the largest index + 1. Not differentiable (its output is integer).

    Example:
        >>> import tinygrad_edu as tg
        >>> tg.nn.functional.one_hot(tg.tensor([0, 2]), 3).tolist()
        [[1, 0, 0], [0, 0, 1]]
    """
    indices = input.numpy() if isinstance(input, Tensor) else np.asarray(input)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"one_hot: the tensor must hold integer class indices, got dtype {indices.dtype}")
    num_classes = check_int("one_hot", "num_classes", num_classes, minimum=-1)
    if num_classes == -1:
        if indices.size == 0:
            raise ValueError("one_hot: num_classes=-1 cannot infer the number of classes from an empty tensor")
        num_classes = int(indices.max()) + 1
    _indices("one_hot", indices, num_classes)
    out = np.zeros(indices.shape + (num_classes,), dtype=np.int64)
    np.put_along_axis(out, indices[..., None].astype(np.intp), 1, axis=-1)
    return _wrap(out)


class Embedding(Module):
    """A lookup table of ``num_embeddings`` learned vectors of size ``embedding_dim``.

    ``embedding(input)[..., :] = weight[input[...], :]`` for integer indices
    ``input`` of any shape (*), giving (*, embedding_dim). ``weight`` is
    initialised from N(0, 1), as in PyTorch; the ``padding_idx`` row starts at
    zero and receives no gradient, so it stays the vector of "no token".

    Args:
        num_embeddings: the table's size (the vocabulary).
        embedding_dim: each vector's size.
        padding_idx: a row kept at zero with no gradient (negative counts from the end), or ``None``.
        max_norm: rescale each looked-up row to norm at most this, in place, or ``None``.
        norm_type: the p of the p-norm for ``max_norm``.
        scale_grad_by_freq: divide each row's gradient by its index's frequency in the batch.
        sparse: sparse gradients; not supported (must be False).
        _weight: a (num_embeddings, embedding_dim) tensor to use as the weight instead of the init.
        _freeze: the weight does not require grad.
        device: ``None`` or ``"cpu"``.
        dtype: the weight's dtype (the default float dtype if omitted).

    Example:
        >>> import tinygrad_edu as tg
        >>> emb = tg.nn.Embedding(27, 10)          # makemore's character table
        >>> emb(tg.tensor([[1, 2, 3], [4, 5, 6]])).shape
        (2, 3, 10)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight: Tensor | None = None, _freeze: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        check_device(device)
        self.num_embeddings = check_int("Embedding", "num_embeddings", num_embeddings, minimum=1)
        self.embedding_dim = check_int("Embedding", "embedding_dim", embedding_dim, minimum=0)
        self.padding_idx = _padding_index("Embedding", padding_idx, num_embeddings)
        self.max_norm = None if max_norm is None else check_positive("Embedding", "max_norm", max_norm)
        self.norm_type, self.scale_grad_by_freq = float(norm_type), bool(scale_grad_by_freq)
        if sparse:
            raise NotImplementedError("Embedding: sparse=True (sparse gradients) is not supported; use sparse=False")
        self.sparse = False
        if _weight is None:
            dtype = dtype or get_default_dtype()
            self.weight = Parameter(Tensor(np.zeros((num_embeddings, embedding_dim)), dtype=dtype),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ShapeError(f"Embedding: _weight must have shape ({num_embeddings}, {embedding_dim}), "
                                 f"got {tuple(_weight.shape)}")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        """PyTorch's default: weight from N(0, 1), the padding row zeroed."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.numpy()[self.padding_idx] = 0
            bump_version(self.weight)

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True, padding_idx: int | None = None,
                        max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> Embedding:
        """An Embedding whose weight is ``embeddings`` (2-D), frozen unless ``freeze=False``, as in PyTorch."""
        if embeddings.ndim != 2:
            raise ShapeError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape {embeddings.shape}")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse, _weight=embeddings,
                   _freeze=freeze)

    def forward(self, input: Any) -> Tensor:  # noqa: A002
        indices = _indices(f"Embedding({self.num_embeddings}, {self.embedding_dim})", input, self.num_embeddings)
        if self.max_norm is not None:
            _renorm_rows(self.weight, indices, self.max_norm, self.norm_type)
        # The checks of `embedding` are done above and at construction: straight to the lookup node.
        return _apply(ops.Embedding, self.weight, indices=indices, padding_idx=self.padding_idx,
                      scale_grad_by_freq=self.scale_grad_by_freq)

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            text += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            text += ", scale_grad_by_freq=True"
        return text
