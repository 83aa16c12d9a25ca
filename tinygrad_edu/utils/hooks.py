"""Hook handles, as ``torch.utils.hooks``: what every ``register_*_hook`` returns.

A hook is a function the library calls at a fixed moment (before or after a
module's forward, when a gradient is computed). Registering one puts it in an
ordered dict of hooks, keyed by a fresh integer id; the `RemovableHandle`
returned remembers that dict (weakly) and the id, so ``handle.remove()`` takes
the hook out again, and ``with handle:`` removes it at the end of the block.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import Any

__all__ = ["RemovableHandle", "hook_name"]


class RemovableHandle:
    """A handle that removes the hook it was returned for, as PyTorch's ``torch.utils.hooks.RemovableHandle``.

    The handle holds the hooks dict only weakly: a handle kept after its
    module or tensor is gone does not keep it alive, and ``remove()`` then
    does nothing. Removing twice is harmless.

    Args:
        hooks_dict: the ``OrderedDict`` (id -> hook) the hook is stored in.
        extra_dict: another dict, or a list of them, whose entry under the
            same id is removed too (the flags ``with_kwargs`` / ``always_call``).

    Attributes:
        id: the hook's key in ``hooks_dict``; ids increase in registration order.

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu import nn
        >>> layer = nn.Linear(2, 2)
        >>> seen = []
        >>> with layer.register_forward_hook(lambda m, args, out: seen.append(out.shape)):
        ...     _ = layer(tg.ones(1, 2))
        >>> _ = layer(tg.ones(3, 2))       # removed at the end of the with block
        >>> seen
        [(1, 2)]
    """

    id: int
    next_id: int = 0

    def __init__(self, hooks_dict: Any, *, extra_dict: Any = None) -> None:
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = RemovableHandle.next_id
        RemovableHandle.next_id += 1
        self.extra_dict_ref: tuple = ()
        if isinstance(extra_dict, dict):
            self.extra_dict_ref = (weakref.ref(extra_dict),)
        elif isinstance(extra_dict, list):
            self.extra_dict_ref = tuple(weakref.ref(d) for d in extra_dict)

    def remove(self) -> None:
        """Take the hook out (nothing happens if it is already out, or its owner is gone)."""
        hooks_dict = self.hooks_dict_ref()
        if hooks_dict is not None and self.id in hooks_dict:
            del hooks_dict[self.id]
        for ref in self.extra_dict_ref:
            extra = ref()
            if extra is not None and self.id in extra:
                del extra[self.id]

    def __getstate__(self) -> tuple:
        return (self.hooks_dict_ref(), self.id, tuple(ref() for ref in self.extra_dict_ref))

    def __setstate__(self, state: tuple) -> None:
        # As PyTorch: a handle whose dict was not pickled with it is a dead reference.
        self.hooks_dict_ref = weakref.ref(OrderedDict() if state[0] is None else state[0])
        self.id = state[1]
        RemovableHandle.next_id = max(RemovableHandle.next_id, self.id + 1)
        extras = state[2] if len(state) > 2 and state[2] is not None else ()
        self.extra_dict_ref = tuple(weakref.ref(d) for d in extras if d is not None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def __repr__(self) -> str:
        alive = self.hooks_dict_ref()
        state = "registered" if alive is not None and self.id in alive else "removed"
        return f"<RemovableHandle id={self.id} ({state})>"


def hook_name(hook: Any) -> str:
    """A hook's name for error messages, as PyTorch's: its ``__name__`` (``'<lambda>'`` for a lambda), else its repr."""
    name = getattr(hook, "__name__", None)
    return name if isinstance(name, str) else repr(hook)
