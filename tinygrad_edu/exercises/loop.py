r"""The training-loop exercise: the sources' loop (batch, forward, loss, backward, update) with the library.

The one exercise whose medium is the library itself: the student writes
``train(model, loss_fn, optimizer, loader, epochs) -> list of per-epoch mean
training losses`` with `tinygrad_edu.nn` and `tinygrad_edu.optim` objects.
`check` builds a small model with fixed starting weights (a linear layer or a
two-layer MLP on a tiny data set, batches in a fixed order), runs the student's
loop and the hidden reference on copies, and compares the losses and the final
weights. The tests hold the reference to the same loop written in PyTorch.

Example:
    >>> import tinygrad_edu as tg
    >>> "loop/train" in tg.exercises.names()
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import nn, optim
from ..data import DataLoader, TensorDataset
from ..rng import get_rng_state, set_rng_state
from ..tensor import tensor
from ._core import Case, Exercise, Finding, mistake_variant, register

__all__: list[str] = []

_LOSSES = {"mse": nn.MSELoss, "cross_entropy": nn.CrossEntropyLoss}
_LOSS_NAMES = {"mse": "MSELoss", "cross_entropy": "CrossEntropyLoss"}


def build(case: Case) -> tuple[nn.Module, nn.Module, optim.Optimizer, DataLoader, int]:
    """The model (with the case's starting weights), loss, optimizer, loader and epochs of a case.

    The global random generator is left as it was: building the layers draws
    their initial weights from it, then the case's weights replace them.
    """
    inputs, targets, weights = case.args
    spec = case.kwargs
    sizes = spec["layers"]
    saved = get_rng_state()
    try:
        if len(sizes) == 2:
            model = nn.Linear(sizes[0], sizes[1])
        else:
            model = nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.Tanh(), nn.Linear(sizes[1], sizes[2]))
    finally:
        set_rng_state(saved)
    model.load_state_dict({name: tensor(value) for name, value in weights.items()})
    optimizer = getattr(optim, spec["optimizer"])(model.parameters(), **spec["options"])
    loader = DataLoader(TensorDataset(tensor(inputs), tensor(targets)), batch_size=spec["batch_size"], shuffle=False)
    return model, _LOSSES[spec["loss"]](), optimizer, loader, spec["epochs"]


def _losses(returned: Any, epochs: int) -> np.ndarray:
    if returned is None:
        raise Finding("wrong_count", "it returned None (is a `return` missing?); return the list of per-epoch "
                                     "mean losses")
    try:
        values = list(returned)
    except TypeError:
        raise Finding("wrong_dtype", f"it returned a {type(returned).__name__}, expected a list with one loss "
                                     f"per epoch") from None
    if len(values) != epochs:
        raise Finding("wrong_count", f"it returned {len(values)} losses for {epochs} epochs: return one mean "
                                     "loss per epoch")
    numbers = []
    for epoch, value in enumerate(values):
        try:
            numbers.append(float(value))  # a Python float, a NumPy scalar or a 0-d Tensor
        except (TypeError, ValueError):
            raise Finding("wrong_dtype", f"the loss of epoch {epoch} is a {type(value).__name__}, expected one "
                                         "number (loss.item())") from None
    return np.array(numbers)


def _run(fn: Callable, case: Case) -> tuple:
    """Run ``fn`` on a freshly built model; return its per-epoch losses and the final weights, flattened.

    The global random generator is put back afterwards (iterating a DataLoader draws from it, as PyTorch's
    does), so checking an answer changes nothing in the caller's session.
    """
    saved = get_rng_state()
    try:
        model, loss_fn, optimizer, loader, epochs = build(case)
        losses = _losses(fn(model, loss_fn, optimizer, loader, epochs), epochs)
    finally:
        set_rng_state(saved)
    weights = np.concatenate([np.array(p.numpy(), dtype=float).reshape(-1) for p in model.parameters()])
    return losses, weights


def _train(model: nn.Module, loss_fn: nn.Module, optimizer: optim.Optimizer, loader: DataLoader, epochs: int,
           mistake: str = "") -> list[float]:
    epoch_losses = []
    for _ in range(epochs):
        model.train()
        batch_losses, sizes = [], []
        for inputs, targets in loader:
            if mistake == "step_before_backward":
                optimizer.step()
                optimizer.zero_grad()
            elif mistake not in ("grads_not_zeroed", "zero_grad_after_backward"):
                optimizer.zero_grad()
            loss = loss_fn(model(inputs), targets)
            loss.backward()
            if mistake == "zero_grad_after_backward":
                optimizer.zero_grad()
            if mistake != "step_before_backward":
                optimizer.step()
            if mistake == "loss_after_update":
                loss = loss_fn(model(inputs), targets)  # read again after the step: the updated weights' loss
            batch_losses.append(loss.item())
            sizes.append(len(inputs))
        if mistake == "loss_summed_not_averaged":
            epoch_losses.append(sum(batch_losses))
        elif mistake == "last_batch_loss_only":
            epoch_losses.append(batch_losses[-1])
        elif mistake == "averaged_over_samples":
            epoch_losses.append(sum(loss * size for loss, size in zip(batch_losses, sizes)) / sum(sizes))
        else:
            epoch_losses.append(sum(batch_losses) / len(batch_losses))
    return epoch_losses


def train_reference(model: nn.Module, loss_fn: nn.Module, optimizer: optim.Optimizer, loader: DataLoader,
                    epochs: int) -> list[float]:
    """The sources' training loop (the reference of ``loop/train``)."""
    return _train(model, loss_fn, optimizer, loader, epochs)


def _case(rng: np.random.Generator, layers: tuple, samples: int, batch_size: int, epochs: int, optimizer: str,
          options: dict, loss: str = "mse") -> Case:
    inputs = rng.normal(size=(samples, layers[0])).astype(np.float32)
    if loss == "cross_entropy":
        targets = rng.integers(0, layers[-1], size=samples)
    else:
        targets = (inputs @ rng.normal(size=(layers[0], layers[-1])) + 0.1 * rng.normal(size=(samples, layers[-1])))
        targets = targets.astype(np.float32)
    shapes = {}
    for i, (fan_in, fan_out) in enumerate(zip(layers, layers[1:])):
        prefix = "" if len(layers) == 2 else f"{2 * i}."
        shapes[f"{prefix}weight"] = (fan_out, fan_in)
        shapes[f"{prefix}bias"] = (fan_out,)
    weights = {name: (rng.uniform(-1, 1, size=shape) / np.sqrt(shape[-1])).astype(np.float32)
               for name, shape in shapes.items()}
    model = (f"Linear({layers[0]}, {layers[1]})" if len(layers) == 2 else
             f"Linear({layers[0]}, {layers[1]}) -> Tanh -> Linear({layers[1]}, {layers[2]})")
    settings = ", ".join(f"{key}={value!r}" for key, value in options.items())
    last = samples % batch_size
    batches = (f"{samples} samples in batches of {batch_size}" + (f" (the last one of {last})" if last else ""))
    label = f"{model}, {_LOSS_NAMES[loss]}, {optimizer}({settings}), {batches}, {epochs} epochs"
    spec = dict(layers=layers, optimizer=optimizer, options=options, batch_size=batch_size, epochs=epochs, loss=loss)
    return Case(label, (inputs, targets, weights), spec)


def _cases(rng: np.random.Generator) -> list[Case]:
    return [
        _case(rng, (3, 1), 12, 4, 3, "SGD", dict(lr=0.1)),
        _case(rng, (2, 1), 10, 4, 4, "SGD", dict(lr=0.05, momentum=0.9)),
        _case(rng, (3, 5, 2), 16, 5, 3, "Adam", dict(lr=0.05)),
        _case(rng, (4, 6, 3), 9, 4, 3, "SGD", dict(lr=0.5), loss="cross_entropy"),
        _case(rng, (2, 4, 1), 8, 8, 3, "SGD", dict(lr=0.1, weight_decay=0.01)),
    ]


_STATEMENT = r"""
### The training loop

The sources' loop, with the library's objects: for every epoch, for every batch, in
order,

1. clear the gradients left by the previous batch: `optimizer.zero_grad()`;
2. forward and loss: `loss = loss_fn(model(inputs), targets)`;
3. backpropagate: `loss.backward()`;
4. update: `optimizer.step()`.

The gradients must be cleared before every `backward()` (the library, like PyTorch,
*adds* new gradients to the old ones), and the update must come after the backward
pass of the same batch.

Return the list of the epochs' mean training losses: with $B$ batches in an epoch and
$L_b$ the value of `loss` for batch $b$ (computed before that batch's update),

$$\bar L_{\text{epoch}} = \frac{1}{B} \sum_{b=1}^{B} L_b$$

the plain mean of the batch losses (as `tg.train.fit` reports `train_loss`; a smaller
last batch counts as one batch). Use `loss.item()` to read a loss as a Python float.

**Signature.** `train(model, loss_fn, optimizer, loader, epochs)`: `model` a `tg.nn.Module`,
`loss_fn` a loss module (`tg.nn.MSELoss()`, `tg.nn.CrossEntropyLoss()`), `optimizer` a
`tg.optim` optimizer over the model's parameters, `loader` a `tg.data.DataLoader` giving
`(inputs, targets)` batches in a fixed order, `epochs` an int. Return a list of `epochs`
floats. `check` runs your loop on small models with fixed starting weights and compares
the losses and the weights after training with the reference loop's.
"""

register(Exercise(
    name="loop/train",
    function="train",
    title="The training loop: zero the gradients, forward, loss, backward, step",
    statement=_STATEMENT,
    stub='''def train(model, loss_fn, optimizer, loader, epochs):
    """Train `model` for `epochs` epochs over `loader`; return the list of per-epoch mean batch losses.

    Args:
        model: a tg.nn.Module.
        loss_fn: a loss module, called as loss_fn(model(inputs), targets).
        optimizer: a tg.optim optimizer over the model's parameters.
        loader: a tg.data.DataLoader giving (inputs, targets) batches.
        epochs: how many passes over the loader.
    """
    raise NotImplementedError("write the training loop")
''',
    reference=train_reference,
    cases=_cases,
    run=_run,
    mistakes=(
        mistake_variant(_train, "grads_not_zeroed",
                        "Call optimizer.zero_grad() before every backward(): gradients are added to the old ones, so "
                        "without it each step uses the sum of all the gradients so far."),
        mistake_variant(_train, "zero_grad_after_backward",
                        "zero_grad() between backward() and step() throws the fresh gradients away, so nothing is "
                        "updated: clear them before the forward pass (step 1), then backward, then step."),
        mistake_variant(_train, "step_before_backward",
                        "The update must follow the backward pass of the same batch (steps 3 then 4); stepping first "
                        "applies the previous batch's gradients."),
        mistake_variant(_train, "loss_summed_not_averaged",
                        "Return the mean of the epoch's batch losses (divide their sum by the number of batches B)."),
        mistake_variant(_train, "last_batch_loss_only",
                        "The epoch's loss is the mean over all its batches, not the loss of its last batch: collect "
                        "every batch's loss.item()."),
        mistake_variant(_train, "averaged_over_samples",
                        "The epoch's loss is the plain mean of the batch losses, each batch counting once (as "
                        "tg.train.fit's train_loss), not weighted by batch size: they differ when the last batch is "
                        "smaller."),
        mistake_variant(_train, "loss_after_update",
                        "Record the loss computed in step 2, before that batch's update (as tg.train.fit does): "
                        "computing it again after optimizer.step() gives the updated weights' loss."),
    ),
    output_names=("per-epoch mean losses", "weights after training (all parameters, flattened)"),
    rtol=1e-4,
    atol=1e-6,
))
