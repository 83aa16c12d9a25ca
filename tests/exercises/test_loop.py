"""The training-loop exercise (tg.exercises ``loop/train``): the reference against PyTorch, mistakes, answers."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu.exercises import REGISTRY, check

torch = pytest.importorskip("torch")

NAME = "loop/train"
EXERCISE = REGISTRY[NAME]


def _cases(seed: int = 0) -> list:
    return EXERCISE.cases(np.random.default_rng(seed))


def _torch_loop(case) -> tuple[list[float], np.ndarray]:
    """The same loop in PyTorch, from the same starting weights, data and batch order."""
    inputs, targets, weights = case.args
    spec = case.kwargs
    sizes = spec["layers"]
    if len(sizes) == 2:
        model = torch.nn.Linear(sizes[0], sizes[1])
    else:
        model = torch.nn.Sequential(torch.nn.Linear(sizes[0], sizes[1]), torch.nn.Tanh(),
                                    torch.nn.Linear(sizes[1], sizes[2]))
    model.load_state_dict({name: torch.tensor(value) for name, value in weights.items()})
    loss_fn = torch.nn.MSELoss() if spec["loss"] == "mse" else torch.nn.CrossEntropyLoss()
    optimizer = getattr(torch.optim, spec["optimizer"])(model.parameters(), **spec["options"])
    data = torch.utils.data.TensorDataset(torch.tensor(inputs), torch.tensor(targets))
    loader = torch.utils.data.DataLoader(data, batch_size=spec["batch_size"], shuffle=False)
    epoch_losses = []
    for _ in range(spec["epochs"]):
        batch_losses = []
        for x, y in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            batch_losses.append(loss.item())
        epoch_losses.append(sum(batch_losses) / len(batch_losses))
    final = np.concatenate([p.detach().numpy().astype(float).reshape(-1) for p in model.parameters()])
    return epoch_losses, final


@pytest.mark.parametrize("seed", (0, 1))
def test_reference_passes(seed: int) -> None:
    result = check(NAME, EXERCISE.reference, seed=seed)
    assert result.passed, str(result)
    assert 4 <= result.cases_total <= 10


def test_reference_equals_the_same_loop_in_torch() -> None:
    for case in _cases():
        losses, final = EXERCISE.run(EXERCISE.reference, case)
        torch_losses, torch_final = _torch_loop(case)
        np.testing.assert_allclose(losses, torch_losses, rtol=1e-4, atol=1e-6, err_msg=case.label)
        np.testing.assert_allclose(final, torch_final, rtol=1e-4, atol=1e-5, err_msg=case.label)
        assert losses[-1] < losses[0], case.label  # the cases train


def test_every_catalogued_mistake_is_caught_and_named() -> None:
    assert len(EXERCISE.mistakes) >= 4
    for mistake in EXERCISE.mistakes:
        result = check(NAME, mistake.fn)
        assert not result.passed, mistake.name
        assert result.mistake == mistake.name and result.mistake_match == "full", (mistake.name, str(result))
        assert mistake.hint in result.message


def test_stub_reports_not_written_yet() -> None:
    namespace = {}
    exec(EXERCISE.stub, namespace)  # noqa: S102 - the library's own stub text
    result = check(NAME, namespace[EXERCISE.function])
    assert result.finding == "not_implemented" and "not written yet" in result.message


def test_check_leaves_the_global_generator_alone() -> None:
    state = tg.get_rng_state()
    expected = tg.rand(3).numpy()
    tg.set_rng_state(state)
    check(NAME, EXERCISE.reference)
    np.testing.assert_array_equal(tg.rand(3).numpy(), expected)


# -- answers written independently of the catalogue ---------------------------------------------------------


def zero_grad_once_per_epoch(model, loss_fn, optimizer, loader, epochs):
    losses = []
    for _ in range(epochs):
        optimizer.zero_grad()
        total, count = 0.0, 0
        for x, y in loader:
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            total, count = total + loss.item(), count + 1
        losses.append(total / count)
    return losses


def one_epoch_short(model, loss_fn, optimizer, loader, epochs):
    losses = []
    for _ in range(1, epochs):
        batch = []
        for x, y in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            batch.append(loss.item())
        losses.append(np.mean(batch))
    return losses


def backward_on_the_float(model, loss_fn, optimizer, loader, epochs):
    losses = []
    for _ in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y).item()
            loss.backward()
            optimizer.step()
            losses.append(loss)
    return losses


def forgets_to_return(model, loss_fn, optimizer, loader, epochs):
    for _ in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()


def never_returns(model, loss_fn, optimizer, loader, epochs):
    epoch = 0
    while epoch < epochs:  # the counter is never advanced
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()


def loss_measured_after_the_step(model, loss_fn, optimizer, loader, epochs):
    history = []
    for _ in range(epochs):
        total = 0.0
        batches = 0
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
            total += loss_fn(model(x), y).item()  # the loss of the weights just updated
            batches += 1
        history.append(total / batches)
    return history


def test_realistic_wrong_answers_are_caught() -> None:
    result = check(NAME, loss_measured_after_the_step)
    assert (result.finding, result.mistake, result.mistake_match) == ("wrong_value", "loss_after_update", "full")
    result = check(NAME, zero_grad_once_per_epoch)
    assert not result.passed and result.finding == "wrong_value", str(result)
    result = check(NAME, one_epoch_short)
    assert result.finding == "wrong_count" and "losses for" in result.message, str(result)
    result = check(NAME, backward_on_the_float)
    assert result.finding == "error" and "backward" in result.message, str(result)
    result = check(NAME, forgets_to_return)
    assert result.finding == "wrong_count" and "None" in result.message, str(result)


def test_a_loop_that_never_returns_is_stopped() -> None:
    result = check(NAME, never_returns, timeout=1.0)
    assert not result.passed and result.finding == "timeout", str(result)


# -- correct answers written differently from the reference -------------------------------------------------


def losses_as_tensors(model, loss_fn, optimizer, loader, epochs):
    """Keeps the losses as (detached) Tensors and returns Tensors."""
    means = []
    for _ in range(epochs):
        epoch = []
        for x, y in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            epoch.append(loss.detach())
        total = epoch[0]
        for loss in epoch[1:]:
            total = total + loss
        means.append(total / len(epoch))
    return means


def zero_after_step(model, loss_fn, optimizer, loader, epochs):
    """Clears the gradients after each update instead of before the forward pass (the same thing)."""
    history = np.zeros(epochs)
    for epoch in range(epochs):
        values = [0.0]
        values.clear()
        for inputs, targets in loader:
            loss = loss_fn(model(inputs), targets)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=False)
            values.append(float(loss))
        history[epoch] = np.mean(values)
    return history


@pytest.mark.parametrize("fn", [losses_as_tensors, zero_after_step], ids=lambda fn: fn.__name__)
def test_equivalent_correct_answers_pass(fn) -> None:
    result = check(NAME, fn)
    assert result.passed, str(result)
