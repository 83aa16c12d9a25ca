"""diagnose: the sources' loss-curve table, pattern by pattern, on synthetic and real histories."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import nn, optim
from tinygrad_edu.train.diagnose import KINDS, Diagnosis, Finding, diagnose

EPOCHS = np.arange(30)


def healthy_history(noise: float = 0.0, seed: int = 0) -> dict:
    """Exponential decay to a floor, validation a little above, constant rate; optional small noise."""
    wobble = np.random.default_rng(seed).uniform(-noise, noise, size=(2, 30))
    train = (1.0 * np.exp(-EPOCHS / 8) + 0.1) * (1 + wobble[0])
    val = (1.05 * np.exp(-EPOCHS / 8) + 0.12) * (1 + wobble[1])
    return {"train_loss": list(train), "val_loss": list(val), "lr": [0.01] * 30}


def only(diagnosis, kind):
    assert diagnosis.kinds == [kind], str(diagnosis)
    return diagnosis[0]


# -- healthy and the report ------------------------------------------------------------------


def test_a_healthy_history_is_reported_healthy_with_its_numbers():
    history = healthy_history()
    finding = only(diagnose(history), "healthy")
    assert finding.epoch is None
    assert "1.100" in finding.message and "0.127" in finding.message  # first and last training loss
    assert "88% lower" in finding.message
    assert "lowest 0.148 at epoch 30" in finding.message  # the validation loss's best


@pytest.mark.parametrize("seed", range(5))
def test_mild_epoch_to_epoch_noise_is_still_healthy(seed):
    # +-1.5 % wobble, as mini-batch training shows: neither oscillating nor noisy validation.
    assert diagnose(healthy_history(noise=0.015, seed=seed)).kinds == ["healthy"]


def test_printing_the_list_reads_as_a_report():
    history = {"train_loss": [1.0, 0.7, 0.5, 0.4, 0.33, 0.28, 0.24, 0.21, 0.19, 0.17, 0.155, 0.14],
               "val_loss": [1.0, 0.75, 0.55, 0.45, 0.40, 0.38, 0.385, 0.40, 0.42, 0.44, 0.46, 0.48]}
    diagnosis = diagnose(history)
    assert isinstance(diagnosis, list) and isinstance(diagnosis, Diagnosis)
    assert all(isinstance(f, Finding) and f.kind in KINDS for f in diagnosis)
    text = str(diagnosis)
    assert text.startswith("Loss-curve diagnosis (12 epochs):")
    assert "overfitting (epoch 6):" in text
    assert text == diagnosis.report()
    assert str(diagnosis[0]).startswith("overfitting (epoch 6): the validation loss was lowest")
    assert all(len(line) <= 88 for line in text.splitlines())


# -- diverging -------------------------------------------------------------------------------


def test_nan_training_loss_is_diverging_at_the_first_nan_epoch():
    history = {"train_loss": [1.0, 0.6, 0.4, math.nan, math.nan], "lr": [0.5] * 5}
    finding = only(diagnose(history), "diverging")
    assert finding.epoch == 4
    assert "became nan at epoch 4" in finding.message
    assert "0.400 at epoch 3" in finding.message  # the last finite value
    assert "0.5 → 0.05" in finding.message  # the 10x cut, in numbers
    assert "warmup" in finding.message and "eps" in finding.message and "clip" in finding.message


def test_nan_from_the_start_is_diverging():
    finding = only(diagnose({"train_loss": [math.nan] * 4}), "diverging")
    assert finding.epoch == 1 and "never finite" in finding.message


def test_an_infinite_validation_loss_is_diverging():
    history = {"train_loss": [1.0, 0.8, 0.7, 0.6, 0.55], "val_loss": [1.0, 0.9, math.inf, 0.8, 0.7]}
    finding = only(diagnose(history), "diverging")
    assert finding.epoch == 3 and "validation loss became inf" in finding.message


def test_an_exploding_finite_loss_is_diverging_not_oscillating():
    history = {"train_loss": [1.0, 0.6, 0.4, 0.5, 1.2, 3.0, 9.0], "lr": [0.8] * 7}
    diagnosis = diagnose(history)
    finding = only(diagnosis, "diverging")
    assert finding.epoch == 4  # the first epoch after the lowest point
    assert "fell to 0.400 at epoch 3" in finding.message
    assert "rose to 9.000 by epoch 7" in finding.message
    assert "22.5× its lowest" in finding.message
    assert "0.8 → 0.08" in finding.message


def test_a_loss_rising_three_epochs_in_a_row_to_double_its_best_is_diverging():
    # It ends below where it started, but has risen 3 epochs running to > 2x its best.
    history = {"train_loss": [5.0, 2.0, 1.0, 0.5, 0.6, 0.9, 1.4]}
    assert diagnose(history).kinds == ["diverging"]


def test_padding_nan_before_the_first_value_is_missing_not_diverging():
    # A History pads a name it first sees later with nan: not a divergence.
    history = healthy_history()
    history["val_loss"] = [math.nan] * 3 + history["val_loss"][3:]
    assert diagnose(history).kinds == ["healthy"]
    history["val_loss"] = [math.nan] * 30  # a validation list of padding only: as if absent
    assert diagnose(history).kinds == ["healthy"]


# -- oscillating -----------------------------------------------------------------------------


def test_a_training_loss_that_jumps_up_and_down_is_oscillating():
    history = {"train_loss": [1.0, 0.6, 0.9, 0.5, 0.85, 0.45, 0.8, 0.5, 0.9, 0.55], "lr": [0.3] * 10,
               "val_loss": [1.0, 0.65, 0.95, 0.55, 0.9, 0.5, 0.85, 0.55, 0.95, 0.6]}
    finding = only(diagnose(history), "oscillating")  # the jumpy validation loss is its echo, not a second cause
    assert "turned around 8 times in 10 epochs" in finding.message
    assert "0.850 → 0.450 → 0.800" in finding.message  # the largest swing, as the example
    assert finding.epoch == 6
    assert "0.3 → 0.03" in finding.message


def test_a_single_spike_in_a_long_run_is_not_oscillating():
    train = list(np.exp(-EPOCHS / 8) + 0.1)
    train[15] *= 1.3
    assert "oscillating" not in diagnose({"train_loss": train}).kinds


# -- too slow --------------------------------------------------------------------------------


def test_a_nearly_flat_training_loss_is_too_slow():
    history = {"train_loss": list(0.693 - 0.001 * EPOCHS), "lr": [1e-4] * 30}
    finding = only(diagnose(history), "too_slow")
    assert finding.epoch == 1
    assert "fell only 4.2% in 30 epochs" in finding.message
    assert "0.693 at epoch 1 → 0.664 at epoch 30" in finding.message
    assert "(0.0001)" in finding.message and "0.0002–0.0003" in finding.message
    assert "nearly flat" in finding.message


def test_a_steady_crawl_is_too_slow_but_a_levelling_curve_is_not():
    crawl = {"train_loss": list(9.0 - 0.035 * EPOCHS)}  # -11 %, a straight line
    finding = only(diagnose(crawl), "too_slow")
    assert "not slowing down" in finding.message and "fell only 11%" in finding.message
    # The same 11 % fall, but front-loaded (fast, then levelling off): that is a finished descent.
    levelling = {"train_loss": list(8.0 + 1.0 * np.exp(-EPOCHS / 3))}
    assert diagnose(levelling).kinds == ["healthy"]


def test_a_rising_loss_is_not_called_too_slow():
    history = {"train_loss": [1.0, 1.01, 1.02, 1.03, 1.04]}
    finding = only(diagnose(history), "too_slow")
    assert "did not fall" in finding.message
    history = {"train_loss": [1.0, 0.6, 0.4, 0.5, 1.2, 3.0, 9.0]}
    assert "too_slow" not in diagnose(history).kinds


# -- overfitting -----------------------------------------------------------------------------


def test_overfitting_names_the_best_epoch_and_the_numbers():
    history = {"train_loss": [1.0, 0.7, 0.5, 0.4, 0.33, 0.28, 0.24, 0.21, 0.19, 0.17, 0.155, 0.14],
               "val_loss": [1.0, 0.75, 0.55, 0.45, 0.40, 0.38, 0.385, 0.40, 0.42, 0.44, 0.46, 0.48]}
    finding = only(diagnose(history), "overfitting")
    assert finding.epoch == 6
    message = finding.message
    assert "lowest at epoch 6 (0.380)" in message
    assert "risen 26% since (0.480 at epoch 12)" in message
    assert "training loss kept falling (0.280 → 0.140)" in message
    assert "EarlyStopping" in message and "epoch 6's weights" in message


def test_no_overfitting_while_validation_still_improves_or_training_stalls():
    base = [1.0, 0.7, 0.5, 0.4, 0.33, 0.28, 0.24, 0.21, 0.19, 0.17, 0.155, 0.14]
    still_improving = {"train_loss": base, "val_loss": [v * 1.1 for v in base]}
    assert "overfitting" not in diagnose(still_improving).kinds
    too_recent = {"train_loss": base, "val_loss": [1.0, .8, .6, .5, .45, .42, .4, .38, .36, .35, .37, .39]}
    assert "overfitting" not in diagnose(too_recent).kinds  # best 2 epochs ago: not yet PATIENCE
    train_flat_too = {"train_loss": [1.0, .7, .5, .4, .35, .33, .33, .33, .33, .33, .33, .33],
                      "val_loss": [1.0, .75, .55, .45, .40, .38, .39, .40, .42, .44, .46, .48]}
    assert "overfitting" not in diagnose(train_flat_too).kinds


def test_the_wobble_of_a_converged_run_is_not_overfitting():
    # Validation settled at its floor and wobbles by ~2 % around it after a dip: no trend.
    rng = np.random.default_rng(3)
    val = list(5.0 * np.exp(-EPOCHS[:8]) + 0.0120) + list(0.0123 + 0.0002 * rng.standard_normal(22))
    val[7] = 0.0110
    train = list(4.0 * np.exp(-EPOCHS / 2) + 0.009 - 0.00005 * EPOCHS)
    assert diagnose({"train_loss": train, "val_loss": val}).kinds == ["healthy"]


# -- noisy validation ------------------------------------------------------------------------


def test_a_validation_loss_that_oscillates_between_epochs_is_noisy():
    history = healthy_history()
    history["val_loss"] = [v * (1 + 0.08 * (-1) ** i) for i, v in enumerate(history["val_loss"])]
    finding = only(diagnose(history), "noisy_validation")
    assert "turned around 28 times in 30 epochs" in finding.message
    assert "bigger batch" in finding.message and "patience" in finding.message


def test_a_lucky_dip_of_a_noisy_validation_loss_is_not_overfitting():
    # Validation reaches a floor of 0.3 and then alternates +-8 % around it: its lowest value is a
    # dip, and the later values sit above it, but by less than the wobble itself.
    val = list(np.linspace(1.0, 0.3, 10)) + [0.3 * (1 + 0.08 * (-1) ** i) for i in range(1, 21)]
    train = list(np.exp(-EPOCHS / 8) + 0.1)
    diagnosis = diagnose({"train_loss": train, "val_loss": val})
    assert diagnosis.kinds == ["noisy_validation"]


def test_noisy_validation_needs_repeated_turns():
    history = healthy_history()
    history["val_loss"][10] *= 1.2  # one bad epoch in thirty
    assert diagnose(history).kinds == ["healthy"]


# -- the scheduler helps ---------------------------------------------------------------------


def step_schedule_history(jump: bool = True) -> dict:
    train = np.r_[np.linspace(1, 0.5, 10), np.linspace(0.4, 0.35, 10), np.linspace(0.3, 0.29, 10)]
    val = np.r_[np.linspace(1.05, 0.55, 10), np.linspace(0.45, 0.41, 10), np.linspace(0.35, 0.345, 10)]
    if not jump:
        val = np.linspace(1.05, 0.5, 30)  # the same pace before and after every cut
    return {"train_loss": list(train), "val_loss": list(val), "lr": [0.1] * 10 + [0.01] * 10 + [0.001] * 10}


def test_validation_jumping_right_after_rate_cuts_means_the_scheduler_helps():
    diagnosis = diagnose(step_schedule_history())
    assert diagnosis.kinds == ["healthy", "scheduler_helps"]
    finding = diagnosis[1]
    assert finding.epoch == 11
    message = finding.message
    assert "2 of 2 learning-rate cuts" in message
    assert "cut at epoch 11 (0.1 → 0.01) it fell 18% (0.550 → 0.450) within 1 epoch" in message
    assert "cut at epoch 21 (0.01 → 0.001) it fell 15% (0.410 → 0.350)" in message
    assert "7.8% per epoch before the cut" in message
    assert "keep" in message


def test_cuts_without_a_jump_and_smooth_decay_do_not_count():
    assert "scheduler_helps" not in diagnose(step_schedule_history(jump=False)).kinds
    cosine = healthy_history()
    cosine["lr"] = [0.05 * (1 + math.cos(math.pi * e / 30)) for e in range(30)]  # no step anywhere
    assert diagnose(cosine).kinds == ["healthy"]


def test_without_validation_the_training_loss_is_read_for_the_scheduler():
    history = step_schedule_history()
    history["train_loss"] = history.pop("val_loss")
    finding = diagnose(history)[-1]
    assert finding.kind == "scheduler_helps" and "training loss improves in jumps" in finding.message


# -- inputs ----------------------------------------------------------------------------------


def test_too_few_epochs_say_so():
    finding = only(diagnose({"train_loss": [1.0, 0.5]}), "too_short")
    assert "only 2 epochs" in finding.message and "1.000 → 0.500" in finding.message
    # ... unless what there is already diverged.
    assert diagnose({"train_loss": [1.0, math.nan]}).kinds == ["diverging"]


def test_accepts_keras_names_numpy_scalars_tensors_and_none():
    history = {"loss": [np.float32(1.0), tg.tensor(0.6), 0.4, 0.3, 0.25, 0.22],
               "val_loss": [None, 0.7, 0.5, 0.4, 0.35, 0.33]}
    assert diagnose(history).kinds == ["healthy"]


def test_bad_inputs_are_clear_errors():
    with pytest.raises(TypeError, match="mapping"):
        diagnose([0.5, 0.4, 0.3])
    with pytest.raises(ValueError, match="train_loss"):
        diagnose({"val_loss": [0.5, 0.4, 0.3]})


def test_epochs_come_from_a_historys_own_numbers():
    from tinygrad_edu.train import History

    history = History()
    values = [1.0, 0.6, 0.4, math.nan, math.nan]
    for i, value in enumerate(values):
        history.append(5 + i, {"train_loss": value, "lr": 0.5})  # resumed after 5 epochs: indices 5, 6, ... from 0
    finding = only(diagnose(history), "diverging")
    # printed from 1, as training logs print them: index 8 is the ninth epoch
    assert finding.epoch == 9 and "epoch 9" in finding.message and "0.400 at epoch 8" in finding.message


# -- real histories from fit -----------------------------------------------------------------


def fit_linear(lr: float, batch_size: int, epochs: int = 20) -> dict:
    from tinygrad_edu.data import DataLoader, TensorDataset
    from tinygrad_edu.train import fit

    tg.manual_seed(0)
    x, y = tg.datasets.linear(n=200, seed=0)
    x_val, y_val = tg.datasets.linear(n=50, seed=100)
    model = nn.Linear(1, 1)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
    with np.errstate(over="ignore", invalid="ignore"):
        return fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=lr), loader, val=(x_val, y_val),
                   epochs=epochs, progress=False)


def test_real_histories_from_fit():
    good = fit_linear(0.1, 20)
    assert diagnose(good).kinds == ["healthy"]
    slow = fit_linear(1e-4, 20)
    finding = only(diagnose(slow), "too_slow")
    assert f"{slow['train_loss'][0]:.3f}" in finding.message and "0.0002–0.0003" in finding.message
    blown = fit_linear(1.5, 200)  # full batch, past the stability limit of this problem (lr < 1)
    finding = only(diagnose(blown), "diverging")
    assert "1.5 → 0.15" in finding.message


# -- layer findings: what an Inspector recorded ---------------------------------------------------------


def deep_net(activation, depth: int = 12, width: int = 32, he: bool = False, gain: float = 1.0,
             seed: int = 0) -> nn.Module:
    tg.manual_seed(seed)
    layers, fan_in = [], 8
    for _ in range(depth):
        linear = nn.Linear(fan_in, width)
        if he:
            nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
            nn.init.zeros_(linear.bias)
        linear.weight.data *= gain
        layers += [linear, activation()]
        fan_in = width
    layers.append(nn.Linear(fan_in, 1))
    return nn.Sequential(*layers)


def inspected(model, optimizer, epochs: int = 3):
    rng = np.random.default_rng(0)
    data = (tg.tensor(rng.standard_normal((64, 8)).astype(np.float32)),
            tg.tensor(rng.standard_normal((64, 1)).astype(np.float32)))
    inspector = tg.train.Inspector(model, every=1)
    history = tg.train.fit(model, nn.MSELoss(), optimizer, data, epochs=epochs, callbacks=[inspector],
                           progress=False)
    return history, inspector


def layer_kinds(diagnosis):
    return [kind for kind in diagnosis.kinds if kind not in ("too_slow", "healthy", "too_short")]


@pytest.mark.parametrize("seed", [0, 1])
def test_vanishing_gradients_on_a_deep_sigmoid_net_and_not_on_relu_with_he_init(seed):
    model = deep_net(nn.Sigmoid, seed=seed)
    history, inspector = inspected(model, optim.SGD(model.parameters(), lr=0.01))
    diagnosis = diagnose(history)  # found through history.inspector
    assert layer_kinds(diagnosis) == ["vanishing_gradients"], str(diagnosis)
    finding = diagnosis[diagnosis.kinds.index("vanishing_gradients")]
    norms = [np.median(inspector.gradients[p]["norm"]) for p in ("0.weight", "24.weight")]
    orders = np.log10(norms[1] / norms[0])
    assert orders > 6  # sigmoid' <= 1/4 per layer, twelve times over
    assert f"{orders:.1f} orders of magnitude below" in finding.message
    assert "(0.weight)" in finding.message and "(24.weight)" in finding.message and "He (kaiming)" in finding.message
    assert str(diagnosis).startswith("Training diagnosis (3 epochs; layer statistics of 3 recorded steps):")

    model = deep_net(nn.ReLU, he=True, seed=seed)
    history, _ = inspected(model, optim.SGD(model.parameters(), lr=0.01))
    diagnosis = diagnose(history)
    assert layer_kinds(diagnosis) == [], str(diagnosis)


def test_a_healthy_run_reports_the_layers_numbers():
    model = deep_net(nn.ReLU, depth=4, he=True)
    history, inspector = inspected(model, optim.Adam(model.parameters(), lr=1e-3), epochs=4)
    diagnosis = diagnose(history, inspector)
    healthy = [f for f in diagnosis if f.kind == "healthy"]
    assert layer_kinds(diagnosis) == [] and len(healthy) == 1, str(diagnosis)
    ratios = [np.median(inspector.update_ratios[p]) for p in inspector.params if p.endswith("weight")]
    assert "The layers look healthy over 4 recorded steps" in healthy[0].message
    assert f"update ratios {min(ratios):.1f} to {max(ratios):.1f}" in healthy[0].message
    assert "orders of magnitude apart" in healthy[0].message and "units dead" in healthy[0].message


def test_exploding_gradients_when_the_gradient_norm_grows_by_orders_of_magnitude():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1))
    history, inspector = inspected(model, optim.SGD(model.parameters(), lr=2.0), epochs=10)
    diagnosis = diagnose(history)
    assert "diverging" in diagnosis.kinds and "exploding_gradients" in diagnosis.kinds, str(diagnosis)
    assert "vanishing_gradients" not in diagnosis.kinds  # one gradient finding: the growth names the cause
    finding = diagnosis[diagnosis.kinds.index("exploding_gradients")]
    table = np.stack([inspector.gradients[p]["norm"] for p in inspector.params], axis=1)
    total = np.sqrt((table ** 2).sum(axis=1))
    growth = np.log10(np.median(total[-5:]) / total[0])
    assert growth > 3 and f"grew {growth:.1f} orders of magnitude" in finding.message
    assert "clip gradients" in finding.message


def test_dead_relus_on_a_net_with_very_negative_biases():
    model = deep_net(nn.ReLU, depth=4, he=True)
    model[2].bias.data.fill_(-10.0)  # layer 2's units never fire: nothing reaches the ReLUs after it
    history, inspector = inspected(model, optim.SGD(model.parameters(), lr=0.01))
    diagnosis = diagnose(history)
    assert layer_kinds(diagnosis) == ["dead_relus"], str(diagnosis)
    message = diagnosis[diagnosis.kinds.index("dead_relus")].message
    assert "3 of 4 ReLU layers" in message and "'3' 100%" in message and "'1'" not in message
    assert inspector.activations["3"]["dead"].tolist() == [1.0, 1.0, 1.0]
    assert "negative biases" in message and "last 3 recorded steps" in message


def test_saturated_units_on_a_tanh_net_with_huge_weights():
    model = deep_net(nn.Tanh, depth=3, gain=10.0)
    history, inspector = inspected(model, optim.SGD(model.parameters(), lr=0.01))
    diagnosis = diagnose(history)
    assert "saturated_units" in diagnosis.kinds, str(diagnosis)
    message = diagnosis[diagnosis.kinds.index("saturated_units")].message
    worst = max(np.median(inspector.activations[layer]["saturated"]) for layer in ("1", "3", "5"))
    assert worst > 0.5 and "3 of 3 tanh/sigmoid layers" in message and "(tanh)" in message
    assert "|tanh| > 0.97" in message
    # the same net at PyTorch's default scale saturates nothing
    model = deep_net(nn.Tanh, depth=3)
    history, _ = inspected(model, optim.SGD(model.parameters(), lr=0.01))
    assert "saturated_units" not in diagnose(history).kinds


def test_an_update_ratio_outlier_when_one_layer_gets_a_100x_rate():
    def run(boost):
        model = deep_net(nn.ReLU, depth=4, he=True)
        others = [p for name, p in model.named_parameters() if not name.startswith("2.")]
        groups = [{"params": others}, {"params": list(model[2].parameters()), "lr": 1e-3 * boost}]
        return inspected(model, optim.Adam(groups, lr=1e-3), epochs=5)

    history, _ = run(1)
    assert "update_ratio_outlier" not in diagnose(history).kinds, str(diagnose(history))
    history, inspector = run(100)
    diagnosis = diagnose(history)
    assert layer_kinds(diagnosis) == ["update_ratio_outlier"], str(diagnosis)
    message = diagnosis[diagnosis.kinds.index("update_ratio_outlier")].message
    ratio = np.median(inspector.update_ratios["2.weight"])
    assert ratio > -2 and message.startswith(f"'2.weight' moves by 10^{ratio:.1f} of its size per step")
    assert "above the median of the other weight layers" in message and "param_groups" in message


def test_an_inspector_alone_one_that_recorded_nothing_and_bad_input():
    model = deep_net(nn.Sigmoid, depth=12)
    _, inspector = inspected(model, optim.SGD(model.parameters(), lr=0.01))
    alone = diagnose(None, inspector=inspector)
    assert alone.kinds == ["vanishing_gradients"] and alone.epochs == 0 and alone.steps == 3
    assert diagnose(tg.train.History(), inspector).kinds == ["vanishing_gradients"]
    idle = tg.train.Inspector(model)
    found = diagnose(healthy_history(), idle)
    assert found.kinds == ["healthy", "not_inspected"] and "recorded no step" in found[-1].message
    with pytest.raises(TypeError, match="inspector must be a tg.train.Inspector"):
        diagnose(healthy_history(), inspector="insp")
    with pytest.raises(TypeError, match="got None"):
        diagnose(None)
    assert diagnose(healthy_history()).steps is None  # without an Inspector, as before


def test_an_update_ratio_outlier_between_two_weight_layers():
    # Two layers, rates 1e-6 and 0.05 (param_groups): each is out of the band on its side of the other.
    def run(first, second, optimizer=optim.SGD):
        model = deep_net(nn.ReLU, depth=1, he=True)              # Linear, ReLU, Linear
        groups = [{"params": list(model[0].parameters()), "lr": first},
                  {"params": list(model[2].parameters()), "lr": second}]
        return inspected(model, optimizer(groups, lr=first), epochs=3)

    history, inspector = run(1e-6, 0.05)
    diagnosis = diagnose(history)
    assert layer_kinds(diagnosis) == ["update_ratio_outlier", "update_ratio_outlier"], str(diagnosis)
    low, high = (np.median(inspector.update_ratios[p]) for p in ("0.weight", "2.weight"))
    assert low < -4 and high > -2
    first, second = (f.message for f in diagnosis if f.kind == "update_ratio_outlier")
    assert first.startswith(f"'0.weight' moves by 10^{low:.1f}") and "barely learns" in first
    assert second.startswith(f"'2.weight' moves by 10^{high:.1f}") and f"({low:.1f};" in second
    history, _ = run(1e-3, 1e-3, optim.Adam)                     # the same rate: nothing to say
    assert layer_kinds(diagnose(history)) == [], str(diagnose(history))


def test_parameters_that_never_got_a_gradient():
    class Branches(nn.Module):
        def __init__(self):
            super().__init__()
            self.used = nn.Linear(8, 1)
            self.unused = nn.Linear(8, 1)     # defined, never called: the classic slip
            self.frozen = nn.Linear(8, 1)     # called, but cut off from the loss

        def forward(self, x):
            return self.used(x) + self.frozen(x).detach() * 0

    tg.manual_seed(0)
    model = Branches()
    history, inspector = inspected(model, optim.SGD(model.parameters(), lr=0.01))
    assert [p for p in inspector.params if p not in inspector.last_gradients] == [
        "frozen.weight", "frozen.bias", "unused.weight", "unused.bias"]   # in call order: unused comes last
    assert layer_kinds(diagnose(history)) == ["no_gradient"]
    finding = diagnose(history)[diagnose(history).kinds.index("no_gradient")]
    assert finding.message.startswith("4 of 6 parameters got no gradient at any of the 3 recorded steps")
    assert "'frozen.weight', 'frozen.bias', 'unused.weight', 'unused.bias'" in finding.message
    assert "healthy" not in diagnose(history).kinds             # a layer problem, as the others
    model.frozen.requires_grad_(False)                           # frozen on purpose: not a finding for it
    finding = diagnose(history)[diagnose(history).kinds.index("no_gradient")]
    assert finding.message.startswith("2 of 6") and "frozen" not in finding.message
    # A NaN gradient is a gradient (the loss curve's 'diverging' finds it), not a missing one.
    model = nn.Sequential(nn.Linear(8, 1))
    inspector = tg.train.Inspector(model, every=1)
    with inspector:
        (model(tg.full((2, 8), float("nan")))).sum().backward()
        inspector.before_step()
        inspector.after_step()
    assert "no_gradient" not in diagnose(None, inspector).kinds


def test_recurrent_and_attention_weight_matrices_are_compared_too():
    class Char(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(5, 4)
            self.rnn = nn.GRU(4, 8, batch_first=True)
            self.fc = nn.Linear(8, 5)

        def forward(self, x):
            return self.fc(self.rnn(self.emb(x))[0][:, -1])

    tg.manual_seed(0)
    model = Char()
    x, y = tg.randint(0, 5, (16, 6)), tg.randint(0, 5, (16,))
    inspector = tg.train.Inspector(model, every=1)
    tg.train.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2), (x, y), epochs=3,
                 callbacks=[inspector], progress=False)
    first = np.median(inspector.gradients["rnn.weight_ih_l0"]["norm"])   # the first matrix: the GRU's, not emb's
    last = np.median(inspector.gradients["fc.weight"]["norm"])
    (summary,) = diagnose(None, inspector)                              # the layers alone: their summary
    summary = summary.message
    assert f"gradient norms from {first:.2g} (first layer) to {last:.2g} (last)" in summary, summary
