"""Reading loss curves: the sources' table of patterns, applied to a training history.

The sources end with a table: what you see in the curves, its likely cause,
and what to do. `diagnose` looks for each row of it in a `History` (or any
mapping of per-epoch lists with ``'train_loss'``, and optionally
``'val_loss'`` and ``'lr'``) and returns what it found as a list of `Finding`
objects, each with its ``kind``, a ``message`` in plain words with the numbers
behind it, and the ``epoch`` it points at. Printing the list reads as a report.

====================  =========================================  ==============================================
kind                  what it looks for                          what to do (the sources' advice)
====================  =========================================  ==============================================
``diverging``         a loss that became NaN or infinite, or a   lr ×0.1, warmup, check eps, clip gradients
                      training loss that exploded
``oscillating``       a training loss that jumps up and down     lr ×0.1, warmup, check eps, clip gradients
``too_slow``          a training loss almost flat from the       lr ×2–3, or warmup to a higher target
                      start
``overfitting``       training loss falls while validation loss  early stopping, regularisation, augmentation,
                      stopped improving and rose                 lower lr at the plateau
``noisy_validation``  a validation loss that oscillates between  bigger batch, lower lr, weight EMA, more
                      epochs                                     patience
``scheduler_helps``   validation loss improving in jumps right   keep it; more cuts or a lower minimum
                      after the rate was cut (``history['lr']``)
``healthy``           none of the problems above                 add a scheduler and early stopping
``too_short``         fewer than 3 epochs: no trend to read yet  train 5–10 epochs, then look again
====================  =========================================  ==============================================

The thresholds (module constants, so a teacher can show what moves them):

* **diverging**: any infinite loss; a NaN that lasts to the end of the run
  (once the parameters are NaN every later loss is too); or a finite training
  loss that ends above `EXPLODE_FACTOR` (2) times its lowest value *and* either
  above its first value or after `RISING_EPOCHS` (3) rises in a row.
* **oscillating**: the training loss turns around (goes up then down, or down
  then up, each move larger than `OSCILLATION_JUMP`, 10 %, of the level) at
  least twice and at no fewer than `TURN_FRACTION` (a quarter) of the epochs
  where it could.
* **too_slow**: the training loss did not diverge or oscillate and, over at
  least 3 epochs, either fell by less than `SLOW_DROP` (10 %) of its first
  value (nearly flat), or fell by less than `SLOW_LINEAR_DROP` (50 %) without
  slowing down: the first half of the epochs brought at most `SLOW_SHARE`
  (60 %) of the fall (a healthy curve drops fast, then levels off).
* **overfitting**: the validation loss was lowest at least `PATIENCE` (3)
  epochs before the end; the mean of its last `PATIENCE` values is above that
  lowest value by at least `OVERFIT_RISE` (5 %) of it, at least
  `OVERFIT_OF_FALL` (2 %) of how far it had fallen to get there, and at least
  `OVERFIT_NOISE` (2) times its median epoch-to-epoch move since (so the
  wobble of a converged run around its floor is not mistaken for it); and the
  training loss fell by more than `TRAIN_STILL_FALLING` (2 %) over the same
  epochs.
* **noisy_validation**: the validation loss turns around with moves larger
  than `NOISE_JUMP` (5 %) at least twice and at no fewer than a quarter of the
  epochs where it could, while the training loss does not oscillate (when it
  does, ``oscillating`` names the cause).
* **scheduler_helps**: a cut of the rate (to `CUT_RATIO`, 0.7, of the previous
  epoch's or lower, after a steady rate) is followed within `AFTER_CUT` (2)
  epochs by a fall of the validation loss (the training loss without one) of
  at least `JUMP_MIN` (3 %) that is also at least `JUMP_FACTOR` (2) times
  faster per epoch than its fall over the 3 epochs before the cut.

With an `Inspector` (``diagnose(history, inspector)``, or ``history.inspector``,
which `fit` sets when an Inspector was among its callbacks), the per-layer
statistics are read too, where problems show before the loss says anything:

=========================  ======================================  =============================================
kind                       what it looks for                       what to do
=========================  ======================================  =============================================
``vanishing_gradients``    the first weight layer's gradient norm  ReLU-family activations with He init,
                           orders of magnitude below the last's    normalisation, residual connections
``exploding_gradients``    ... orders above it, an infinite        clip gradients, lower lr, smaller init,
                           gradient, or a total norm that grew     normalisation
                           by orders of magnitude
``dead_relus``             ReLU units zero for the whole batch     check biases, lower lr, He init, LeakyReLU,
                                                                   BatchNorm before the ReLU
``saturated_units``        tanh/sigmoid outputs at their limits    smaller init (gain 5/3 for tanh), BatchNorm
``update_ratio_outlier``   one layer whose update-to-data ratio    that layer's rate (param_groups), its init
                           is far above or below the others'
``no_gradient``            parameters that never got a gradient    use the layer, or find where the graph is cut
                           (``.grad`` stayed ``None``)             (detach, .data, no_grad); freeze it on purpose
``not_inspected``          the Inspector recorded no step          pass it to fit, or call before/after_step
=========================  ======================================  =============================================

* Gradient norms and update ratios are the medians over the recorded steps;
  they are compared between the weight matrices of `Linear` and `Conv`
  layers, of recurrent layers (``weight_ih_l0``, ``weight_hh_l0``, ...) and of
  attention (``in_proj_weight``), in depth order (biases, norms' gains and
  embeddings have scales of their own).
* **vanishing_gradients** / **exploding_gradients**: the first weight
  layer's gradient norm at least `VANISHING_ORDERS` (3) orders of magnitude
  (1000×) below the last's, or `EXPLODING_ORDERS` (3) above it; exploding also
  for any infinite gradient norm, or a total gradient norm (over every
  recorded parameter) whose median over the last `RECENT_STEPS` (5) recorded
  steps is `EXPLODING_ORDERS` above its first recorded value. (A NaN gradient
  cannot be told from a missing one here; the loss-curve ``diverging`` finds
  it.)
* **dead_relus**: a ReLU layer with at least `DEAD_FRACTION` (half) of its
  units dead, median over the last `RECENT_STEPS` recorded steps.
* **saturated_units**: a tanh or sigmoid layer with at least
  `SATURATED_FRACTION` (a quarter) of its outputs saturated, the same way.
* **no_gradient**: a recorded parameter that still requires grad but had no
  gradient at any recorded step: its layer is never called, or its output is
  cut off from the loss (a frozen parameter, ``requires_grad`` False, is left
  out). A NaN gradient is a gradient: ``diverging`` finds it.
* **update_ratio_outlier** (at least 2 weight layers, and no vanishing or
  exploding finding, of which it would be the echo): a weight whose median
  ``log10(update / weight)`` is at least `RATIO_OUTLIER_ORDERS` (1.5) orders
  from the median of the other weights, on the side where it is also more
  than `RATIO_BAND` (1) from the rule of thumb `RATIO_RULE` (-3): above -2, or
  below -4.

Layer problems count as problems: ``healthy`` is then left out; without
them, the ``healthy`` finding adds the layers' numbers.

Epochs are counted from 1, as training logs print them (Keras and `fit`'s
progress bar print the epoch numbered 0 as "epoch 1"; a `History`'s own
``epoch`` numbers, from 0, are used plus one when it has them): ``epoch=12``
is ``history['val_loss'][11]`` in a fresh run.

    >>> import tinygrad_edu as tg
    >>> history = {"train_loss": [1.0, 0.6, 0.4, 0.3, 0.25, 0.2, 0.17, 0.15],
    ...            "val_loss":   [1.0, 0.7, 0.5, 0.45, 0.5, 0.55, 0.6, 0.66]}
    >>> [finding.kind for finding in tg.train.diagnose(history)]
    ['overfitting']
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .inspector import SIGMOID_SATURATION, TANH_SATURATION, Inspector

__all__ = ["diagnose", "Finding", "Diagnosis", "KINDS", "PROBLEMS", "LAYER_PROBLEMS"]

KINDS = ("diverging", "oscillating", "too_slow", "overfitting", "noisy_validation", "scheduler_helps", "healthy",
         "too_short", "vanishing_gradients", "exploding_gradients", "dead_relus", "saturated_units",
         "update_ratio_outlier", "no_gradient", "not_inspected")
PROBLEMS = ("diverging", "oscillating", "too_slow", "overfitting", "noisy_validation")
LAYER_PROBLEMS = ("vanishing_gradients", "exploding_gradients", "dead_relus", "saturated_units",
                  "update_ratio_outlier", "no_gradient")

MIN_EPOCHS = 3  # fewer epochs than this show no trend to read
EXPLODE_FACTOR = 2.0  # diverging: the training loss ends above this multiple of its lowest value ...
RISING_EPOCHS = 3  # ... and above where it started, or after this many rises in a row
OSCILLATION_JUMP = 0.10  # oscillating: a move of the training loss larger than this fraction of its level ...
TURN_FRACTION = 0.25  # ... turning around at least at this fraction of the epochs where it could (and twice)
SLOW_DROP = 0.10  # too_slow: the training loss fell by less than this fraction of its first value
SLOW_LINEAR_DROP = 0.5  # too_slow also: a loss that fell by less than this fraction ...
SLOW_SHARE = 0.6  # ... without slowing down (at most this share of its fall in the first half of the epochs)
PATIENCE = 3  # overfitting: at least this many epochs since the best validation loss ...
OVERFIT_RISE = 0.05  # ... whose last PATIENCE values average this much (relative) above the best ...
OVERFIT_OF_FALL = 0.02  # ... a rise of at least this fraction of the validation loss's fall to its best ...
OVERFIT_NOISE = 2.0  # ... and this many times its typical epoch-to-epoch move since the best ...
TRAIN_STILL_FALLING = 0.02  # ... while the training loss fell by more than this fraction meanwhile
NOISE_JUMP = 0.05  # noisy_validation: a move of the validation loss larger than this fraction of its level
CUT_RATIO = 0.7  # scheduler_helps: a cut leaves at most this fraction of the previous epoch's rate ...
STEADY = 0.01  # ... after a rate that changed by at most this fraction the epoch before (a step, not a decay)
AFTER_CUT = 2  # ... and within this many epochs the loss falls ...
JUMP_MIN = 0.03  # ... by at least this fraction ...
JUMP_FACTOR = 2.0  # ... and this many times faster per epoch than in the epochs before the cut
BEFORE_CUT = 3  # (the epochs before the cut that set that pace)

# The layer findings (an Inspector's statistics; "orders" are powers of ten).
VANISHING_ORDERS = 3.0  # vanishing: the first weight layer's gradient norm this many orders below the last's
EXPLODING_ORDERS = 3.0  # exploding: ... this many orders above the last's, or the total norm grew this much
RECENT_STEPS = 5  # dead and saturated units: the median of the last this-many recorded steps ...
DEAD_FRACTION = 0.5  # ... at least this fraction of a ReLU layer's units dead (zero for the whole batch)
SATURATED_FRACTION = 0.25  # ... or of a tanh/sigmoid layer's outputs saturated
RATIO_OUTLIER_ORDERS = 1.5  # update_ratio_outlier: a weight's median ratio this far from the others' median
RATIO_RULE = -3.0  # the lecture's rule of thumb for log10(update / weight) ...
RATIO_BAND = 1.0  # ... an outlier is also outside RATIO_RULE ± this, on its side (above -2, or below -4)


@dataclass(frozen=True)
class Finding:
    """One pattern found in the loss curves.

    Attributes:
        kind: one of `KINDS` (``'overfitting'``, ``'diverging'``, ...).
        message: what was seen, with the numbers behind it, and what to do.
        epoch: the epoch the finding points at (counted from 1), or ``None``.
    """

    kind: str
    message: str
    epoch: int | None = None

    def __str__(self) -> str:
        where = f" (epoch {self.epoch})" if self.epoch is not None else ""
        return f"{self.kind}{where}: {self.message}"


class Diagnosis(list):
    """The list of `Finding` objects `diagnose` returns; ``print`` shows it as a report.

    Attributes:
        epochs: how many epochs the loss curves had.
        steps: how many steps an Inspector recorded (``None`` without one).
    """

    def __init__(self, findings: Any = (), epochs: int = 0, steps: int | None = None) -> None:
        super().__init__(findings)
        self.epochs = epochs
        self.steps = steps

    @property
    def kinds(self) -> list[str]:
        """The kind of each finding, in order."""
        return [finding.kind for finding in self]

    def report(self, width: int = 88) -> str:
        """The findings as indented, wrapped paragraphs under a heading."""
        seen = f"{self.epochs} epoch{'s' if self.epochs != 1 else ''}"
        if self.steps is None:
            lines = [f"Loss-curve diagnosis ({seen}):"]
        else:
            lines = [f"Training diagnosis ({seen}; layer statistics of {self.steps} recorded "
                     f"step{'s' if self.steps != 1 else ''}):"]
        for finding in self:
            lines.append(textwrap.fill(str(finding), width=width, initial_indent="  - ", subsequent_indent="    "))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()


# -- reading the history ---------------------------------------------------------------------


def _number(value: Any) -> float:
    if value is None:
        return math.nan
    item = getattr(value, "item", None)
    return float(item() if callable(item) else value)


@dataclass
class _Series:
    """One per-epoch list: ``values`` (float, NaN where missing), and where it diverged."""

    name: str
    values: np.ndarray
    diverged_at: int | None  # index of the first entry of a non-finite ending, or of an infinity

    @property
    def finite_part(self) -> tuple[np.ndarray, np.ndarray]:
        """(indices, values) of the finite entries before any divergence."""
        end = len(self.values) if self.diverged_at is None else self.diverged_at
        index = np.flatnonzero(np.isfinite(self.values[:end]))
        return index, self.values[index]


def _series(history: Mapping[str, Any], name: str, required: bool = False) -> _Series | None:
    values = np.array([_number(v) for v in history[name]], dtype=np.float64) if name in history else None
    if values is None or values.size == 0:
        return None
    finite = np.isfinite(values)
    if not finite.any() and not required and not np.isinf(values).any():
        return None  # a list of NaN only (a History pads names it never saw): nothing recorded
    diverged_at = None
    infinite = np.flatnonzero(np.isinf(values))
    if infinite.size:
        diverged_at = int(infinite[0])
    # NaN that lasts to the end is divergence; NaN before the first value, or a gap, is a missing entry.
    last_finite = np.flatnonzero(finite)
    tail_start = int(last_finite[-1]) + 1 if last_finite.size else 0
    if tail_start < len(values):
        diverged_at = tail_start if diverged_at is None else min(diverged_at, tail_start)
    return _Series(name, values, diverged_at)


def _fmt(x: float) -> str:
    """A loss as people write it: 0.231, 12.500, 1.2e-05."""
    if not math.isfinite(x):
        return str(x)
    return f"{x:.3f}" if 0.01 <= abs(x) < 1000 else f"{x:.3g}"


def _pct(fraction: float) -> str:
    percent = 100 * fraction
    whole = abs(percent) >= 10 and (round(abs(percent)) != 100 or abs(percent) == 100)  # not "100%" for 99.6%
    return f"{percent:.0f}%" if whole else f"{percent:.1f}%"


def _lr(x: float) -> str:
    return f"{x:.3g}"


def _turns(values: np.ndarray, jump: float) -> tuple[int, int, list[int]]:
    """Turnarounds: (count, opportunities, where) for moves larger than ``jump`` of the level.

    A turnaround at ``i`` is a move ``i -> i+1`` followed by one ``i+1 -> i+2`` in the
    other direction, both larger than ``jump`` times the level they start from.
    """
    if len(values) < 3:
        return 0, 0, []
    moves = np.diff(values)
    level = np.maximum(np.abs(values[:-1]), 1e-12)
    big = np.abs(moves) > jump * level
    turns = [i for i in range(len(moves) - 1) if big[i] and big[i + 1] and moves[i] * moves[i + 1] < 0]
    return len(turns), len(moves) - 1, turns


def _is_oscillating(values: np.ndarray, jump: float) -> tuple[bool, int, int, list[int]]:
    count, chances, turns = _turns(values, jump)
    return count >= 2 and count >= TURN_FRACTION * chances, count, chances, turns


# -- the patterns ------------------------------------------------------------------------------


_CALM_DOWN = ("lower the learning rate 10×{to}, add warmup, check eps (a tiny eps in Adam or RMSprop divides by "
              "almost zero) and clip gradients (e.g. clip_grad_norm=1.0)")


def _rate_at(lr: np.ndarray | None, index: int) -> float | None:
    if lr is None or not 0 <= index < len(lr) or not math.isfinite(lr[index]) or lr[index] <= 0:
        return None
    return float(lr[index])


def _calm_down(lr: np.ndarray | None, index: int) -> str:
    rate = _rate_at(lr, index)
    return _CALM_DOWN.format(to=f" ({_lr(rate)} → {_lr(rate / 10)})" if rate is not None else "")


def _diverging(train: _Series, val: _Series | None, lr: np.ndarray | None, epochs: list[int]) -> Finding | None:
    for series, label in ((train, "training loss"), (val, "validation loss")):
        if series is None or series.diverged_at is None:
            continue
        at = series.diverged_at
        bad = series.values[at]
        index, finite = series.finite_part
        before = (f" (it was {_fmt(finite[-1])} at epoch {epochs[index[-1]]})" if finite.size else
                  " (it was never finite)")
        rate = _rate_at(lr, at)
        with_rate = f" with learning rate {_lr(rate)}" if rate is not None else ""
        return Finding("diverging", f"the {label} became {bad} at epoch {epochs[at]}{with_rate}{before}: the "
                                    f"learning rate is too high or the numerics broke → {_calm_down(lr, at)}.",
                       epochs[at])
    index, t = train.finite_part
    if len(t) < MIN_EPOCHS:
        return None
    best = int(np.argmin(t))
    last = t[-1]
    rising = len(t) > RISING_EPOCHS and bool(np.all(np.diff(t[-RISING_EPOCHS - 1:]) > 0))
    if best < len(t) - 1 and t[best] > 0 and last > EXPLODE_FACTOR * t[best] and (last > t[0] or rising):
        low = (f"was lowest at epoch {epochs[index[best]]} ({_fmt(t[best])})" if best == 0 else
               f"fell to {_fmt(t[best])} at epoch {epochs[index[best]]}")
        return Finding("diverging", f"the training loss exploded: it {low}, then rose to {_fmt(last)} by epoch "
                                    f"{epochs[index[-1]]} "
                                    f"({last / t[best]:.3g}× its lowest; it started at {_fmt(t[0])}): the learning "
                                    f"rate is too high → {_calm_down(lr, int(index[best]))}.",
                       epochs[index[best] + 1] if index[best] + 1 < len(epochs) else epochs[index[best]])
    return None


def _oscillating(train: _Series, lr: np.ndarray | None, epochs: list[int]) -> Finding | None:
    index, t = train.finite_part
    found, count, chances, turns = _is_oscillating(t, OSCILLATION_JUMP)
    if not found:
        return None
    moves = np.abs(np.diff(t)) / np.maximum(np.abs(t[:-1]), 1e-12)
    i = max(turns, key=lambda k: moves[k] + moves[k + 1])  # the most violent turnaround, as the example
    a, b, c = (int(index[k]) for k in (i, i + 1, i + 2))
    return Finding("oscillating", f"the training loss jumps up and down: it turned around {count} times in "
                                  f"{len(t)} epochs with moves larger than {_pct(OSCILLATION_JUMP)} (e.g. epochs "
                                  f"{epochs[a]}–{epochs[c]}: {_fmt(t[i])} → {_fmt(t[i + 1])} → {_fmt(t[i + 2])}): "
                                  f"the learning rate is too high or the numerics are unstable → "
                                  f"{_calm_down(lr, b)}.", epochs[b])


def _too_slow(train: _Series, lr: np.ndarray | None, epochs: list[int]) -> Finding | None:
    index, t = train.finite_part
    if len(t) < MIN_EPOCHS or t[0] <= 0:
        return None
    drop = (t[0] - t[-1]) / t[0]
    half = len(t) // 2
    share = (t[0] - t[half]) / (t[0] - t[-1]) if drop > 0 else math.nan  # of the fall, in the first half
    flat = drop < SLOW_DROP
    crawling = len(t) >= 4 and drop < SLOW_LINEAR_DROP and share <= SLOW_SHARE
    if not (flat or crawling):
        return None
    fell = f"fell only {_pct(drop)}" if drop > 0 else f"did not fall ({_pct(-drop)} higher at the end)"
    shape = ("nearly flat from the start" if flat else
             f"a steady crawl that is not slowing down (the first {half} epochs brought only {_pct(share)} of "
             f"the fall)")
    rate = _rate_at(lr, int(index[-1]))
    advice = (f"the learning rate ({_lr(rate)}) is probably too low → raise it 2–3× (to "
              f"{_lr(2 * rate)}–{_lr(3 * rate)})" if rate is not None else
              "the learning rate is probably too low → raise it 2–3×")
    return Finding("too_slow", f"the training loss {fell} in {len(t)} epochs ({_fmt(t[0])} at epoch "
                               f"{epochs[index[0]]} → {_fmt(t[-1])} at epoch {epochs[index[-1]]}), {shape}: "
                               f"{advice}, or warm up to a higher target rate (unless the loss is already as low as "
                               f"this model and data allow).", epochs[index[0]])


def _overfitting(train: _Series, val: _Series, epochs: list[int]) -> Finding | None:
    index, v = val.finite_part
    if not v.size:  # a validation loss that was never finite: the diverging finding says so
        return None
    best = int(np.argmin(v))
    since = len(v) - 1 - best
    if since < PATIENCE or v[best] <= 0:
        return None
    recent = float(np.mean(v[-PATIENCE:]))
    rise_recent = recent - v[best]
    fall = float(np.max(v[:best + 1])) - v[best]
    typical_move = float(np.median(np.abs(np.diff(v[best:]))))
    # A rise that matters (relative to the best and to how far the loss had come down) and that is not
    # just the epoch-to-epoch wobble around a floor.
    if rise_recent < OVERFIT_RISE * v[best] or rise_recent < OVERFIT_OF_FALL * fall \
            or rise_recent < OVERFIT_NOISE * typical_move:
        return None
    best_epoch_index, last_index = int(index[best]), int(index[-1])
    t = train.values
    if not (math.isfinite(t[best_epoch_index]) and math.isfinite(t[last_index])):
        return None
    if t[last_index] >= t[best_epoch_index] * (1 - TRAIN_STILL_FALLING):
        return None
    rise = (v[-1] - v[best]) / v[best]
    best_epoch = epochs[best_epoch_index]
    return Finding("overfitting", f"the validation loss was lowest at epoch {best_epoch} ({_fmt(v[best])}) and has "
                                  f"risen {_pct(rise)} since ({_fmt(v[-1])} at epoch {epochs[last_index]}), while the "
                                  f"training loss kept falling ({_fmt(t[best_epoch_index])} → {_fmt(t[last_index])}): "
                                  f"the model is overfitting → stop early (EarlyStopping with restore_best_weights "
                                  f"keeps epoch {best_epoch}'s weights), add regularisation (weight decay, dropout) or "
                                  f"augmentation, or lower the learning rate at the plateau.", best_epoch)


def _noisy_validation(val: _Series, epochs: list[int]) -> Finding | None:
    index, v = val.finite_part
    found, count, chances, turns = _is_oscillating(v, NOISE_JUMP)
    if not found:
        return None
    moves = np.abs(np.diff(v)) / np.maximum(np.abs(v[:-1]), 1e-12)
    typical = float(np.mean([moves[k] for k in turns] + [moves[k + 1] for k in turns]))
    i = max(turns, key=lambda k: moves[k] + moves[k + 1])
    a, c = int(index[i]), int(index[i + 2])
    return Finding("noisy_validation", f"the validation loss oscillates between epochs: it turned around {count} "
                                       f"times in {len(v)} epochs, moving {_pct(typical)} on average at each turn "
                                       f"(e.g. epochs {epochs[a]}–{epochs[c]}: {_fmt(v[i])} → {_fmt(v[i + 1])} → "
                                       f"{_fmt(v[i + 2])}), while the training loss was steady: noisy gradients, a "
                                       f"small validation set or a high rate → use a bigger batch, a lower learning "
                                       f"rate or an average of the weights (EMA), and give early stopping more "
                                       f"patience.", None)


def _cuts(lr: np.ndarray) -> list[int]:
    """Epochs (indices) whose rate is a step down from a steady one."""
    cuts = []
    for i in range(1, len(lr)):
        before, now = lr[i - 1], lr[i]
        if not (math.isfinite(before) and math.isfinite(now)) or before <= 0 or now > CUT_RATIO * before:
            continue
        steady = i == 1 or (math.isfinite(lr[i - 2]) and abs(before - lr[i - 2]) <= STEADY * abs(lr[i - 2]))
        if steady:
            cuts.append(i)
    return cuts


def _scheduler_helps(train: _Series, val: _Series | None, lr: np.ndarray | None,
                     epochs: list[int]) -> Finding | None:
    if lr is None:
        return None
    series, label = (val, "validation loss") if val is not None else (train, "training loss")
    curve = series.values
    helped, cuts = [], _cuts(lr[:len(curve)])
    for i in cuts:
        k = min(BEFORE_CUT, i - 1)
        if k < 1 or not np.all(np.isfinite(curve[i - 1 - k:i])) or curve[i - 1] <= 0:
            continue
        pace = (curve[i - 1 - k] - curve[i - 1]) / curve[i - 1 - k] / k  # relative fall per epoch before the cut
        # The fastest fall within AFTER_CUT epochs of the cut, per epoch.
        falls = [((curve[i - 1] - curve[i - 1 + w]) / curve[i - 1], w) for w in range(1, AFTER_CUT + 1)
                 if i - 1 + w < len(curve) and math.isfinite(curve[i - 1 + w])]
        if not falls:
            continue
        drop, where = max(falls, key=lambda fall: fall[0] / fall[1])
        if drop >= JUMP_MIN and drop / where >= JUMP_FACTOR * max(pace, 0.0):
            helped.append((i, where, drop, pace))
    if not helped:
        return None
    parts = []
    for i, where, drop, pace in helped:
        low = curve[i - 1 + where]
        pace_text = f"{_pct(pace)} per epoch" if pace > 0 else "no progress"
        parts.append(f"after the cut at epoch {epochs[i]} ({_lr(lr[i - 1])} → {_lr(lr[i])}) it fell "
                     f"{_pct(drop)} ({_fmt(curve[i - 1])} → {_fmt(low)}) within {where} epoch{'s' * (where > 1)}, "
                     f"against {pace_text} before the cut")
    head = (f"{len(helped)} of {len(cuts)} learning-rate cuts" if len(cuts) > 1 else "the learning-rate cut")
    return Finding("scheduler_helps", f"the {label} improves in jumps right after the rate is cut ({head} paid "
                                      f"off): " + "; ".join(parts) + " → keep the scheduler; more cuts or a lower "
                                      "minimum rate may help further.", epochs[helped[0][0]])


def _healthy(train: _Series, val: _Series | None, epochs: list[int]) -> Finding:
    index, t = train.finite_part
    change = (t[0] - t[-1]) / t[0] if t[0] > 0 else math.nan
    text = (f"the training loss fell steadily from {_fmt(t[0])} (epoch {epochs[index[0]]}) to {_fmt(t[-1])} "
            f"(epoch {epochs[index[-1]]})" + (f", {_pct(change)} lower" if math.isfinite(change) else ""))
    if val is not None:
        vi, v = val.finite_part
        if v.size:
            best = int(np.argmin(v))
            text += (f"; the validation loss followed it (lowest {_fmt(v[best])} at epoch {epochs[vi[best]]}, "
                     f"last {_fmt(v[-1])})")
    return Finding("healthy", text + ". No problem pattern found: once stable, add a scheduler and early stopping "
                                     "(the sources' quick protocol).", None)


def diagnose(history: Mapping[str, Any] | None, inspector: Inspector | None = None) -> Diagnosis:
    """Look for the sources' loss-curve patterns in a training history, and for layer problems an Inspector saw.

    Args:
        history: a `History` from `fit`, or any mapping of per-epoch lists:
            ``'train_loss'`` (``'loss'`` is accepted too, as Keras names it),
            and optionally ``'val_loss'`` and ``'lr'``. Values may be numbers,
            NumPy scalars, 0-d Tensors, NaN or infinity; ``None`` (and NaN
            before a list's first value or in a gap) marks a missing entry.
            With an Inspector, ``history`` may be ``None`` or hold no training
            loss: only the layer findings are made.
        inspector: a `tg.train.Inspector` that watched the training; when
            ``None``, ``history.inspector`` is used (`fit` sets it when an
            Inspector was among its callbacks).

    Returns:
        A `Diagnosis`: a list of `Finding` objects (``kind``, ``message``,
        ``epoch``) in the order diverging, oscillating, too_slow, overfitting,
        noisy_validation, then the layer findings (vanishing_gradients,
        exploding_gradients, dead_relus, saturated_units,
        update_ratio_outlier), then scheduler_helps; ``healthy`` when none of
        the problems shows (it may come with ``scheduler_helps``; with an
        Inspector it adds the layers' numbers), ``too_short`` when there are
        fewer than 3 epochs to read, ``not_inspected`` when the Inspector
        recorded no step. ``print`` shows a report.

    Raises:
        TypeError: ``history`` is not a mapping, one of its lists is not a
            list, or ``inspector`` is not an Inspector.
        ValueError: it has no training loss and there is no Inspector (an
            empty list is no error: it reads as ``too_short``, with 0 epochs).

    Example:
        >>> import tinygrad_edu as tg
        >>> print(tg.train.diagnose({"train_loss": [0.9, 0.5, float("nan")]}))
        Loss-curve diagnosis (3 epochs):
          - diverging (epoch 3): the training loss became nan at epoch 3 (it was 0.500 at epoch
            2): the learning rate is too high or the numerics broke → lower the learning rate
            10×, add warmup, check eps (a tiny eps in Adam or RMSprop divides by almost zero)
            and clip gradients (e.g. clip_grad_norm=1.0).
    """
    if inspector is None:
        inspector = getattr(history, "inspector", None)
    if inspector is not None and not isinstance(inspector, Inspector):
        raise TypeError(f"diagnose: inspector must be a tg.train.Inspector, got {type(inspector).__name__}")
    if history is None and inspector is None:
        raise TypeError("diagnose expects a History or a mapping of per-epoch lists, got None (pass an Inspector "
                        "as inspector= to read the layer statistics alone)")
    if history is not None and not isinstance(history, Mapping):
        raise TypeError(f"diagnose expects a History or a mapping of per-epoch lists, got {type(history).__name__}")
    loss_curves = history is not None and ("train_loss" in history or "loss" in history)
    if inspector is None or loss_curves:
        diagnosis = _loss_diagnosis(history)
        if inspector is None:
            return diagnosis
    else:  # the layers alone
        diagnosis = Diagnosis([], 0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _with_layers(diagnosis, inspector, loss_curves)


def _loss_diagnosis(history: Mapping[str, Any]) -> Diagnosis:
    name = "train_loss" if "train_loss" in history else "loss" if "loss" in history else None
    for key in (name, "val_loss", "lr"):
        values = history.get(key) if key is not None else None
        if values is not None and (isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable)):
            raise TypeError(f"diagnose: history[{key!r}] must be a list of per-epoch values, "
                            f"got {type(values).__name__}")
    if name is not None and len(list(history[name])) == 0:
        return Diagnosis([Finding("too_short", f"no epochs recorded (history[{name!r}] is empty): train at least "
                                               f"{MIN_EPOCHS} epochs (the sources' quick protocol says 5–10) and "
                                               f"diagnose again.", None)], 0)
    train = _series(history, name, required=True) if name is not None else None
    if train is None:
        raise ValueError(f"diagnose needs the training loss per epoch in history['train_loss']; "
                         f"got the keys {sorted(map(str, history))}")
    n = len(train.values)
    # Every list lines up with the epochs of the training loss (a longer one is cut to them).
    val = _series({"val_loss": list(history["val_loss"])[:n]}, "val_loss") if "val_loss" in history else None
    lr_series = _series({"lr": list(history["lr"])[:n]}, "lr") if "lr" in history else None
    lr = lr_series.values if lr_series is not None else None
    recorded = getattr(history, "epoch", None)
    epochs = ([int(e) + 1 for e in recorded] if isinstance(recorded, list) and len(recorded) == n
              else list(range(1, n + 1)))

    # Losses near the float limit overflow in the thresholds' products; inf compares as it should, silently.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _diagnose(train, val, lr, epochs, n)


def _diagnose(train: _Series, val: _Series | None, lr: np.ndarray | None, epochs: list[int], n: int) -> Diagnosis:
    findings = []
    diverging = _diverging(train, val, lr, epochs)
    if diverging is not None:
        findings.append(diverging)
    if len(train.finite_part[1]) < MIN_EPOCHS and not findings:
        index, t = train.finite_part
        seen = f" (training loss {' → '.join(_fmt(x) for x in t)})" if t.size else ""
        return Diagnosis([Finding("too_short", f"only {len(t)} epoch{'s' * (len(t) != 1)} recorded{seen}: too few "
                                               f"to read a trend; train at least {MIN_EPOCHS} (the sources' quick "
                                               f"protocol says 5–10) and diagnose again.", None)], n)
    oscillating = _oscillating(train, lr, epochs)
    if oscillating is not None:
        findings.append(oscillating)
    if diverging is None and oscillating is None:
        too_slow = _too_slow(train, lr, epochs)
        if too_slow is not None:
            findings.append(too_slow)
    if val is not None:
        overfitting = _overfitting(train, val, epochs)
        if overfitting is not None:
            findings.append(overfitting)
        if diverging is None and oscillating is None:
            noisy = _noisy_validation(val, epochs)
            if noisy is not None:
                findings.append(noisy)
    helps = _scheduler_helps(train, val, lr, epochs if val is not None else epochs)
    if not any(f.kind in PROBLEMS for f in findings):
        findings.append(_healthy(train, val, epochs))
    if helps is not None:
        findings.append(helps)
    return Diagnosis(findings, n)


# -- the layers: what an Inspector recorded ------------------------------------------------------


_TAME = ("clip gradients (clip_grad_norm=1.0), lower the learning rate, and scale the init down (Xavier/He "
         "for the activation) or add normalisation (BatchNorm/LayerNorm)")


def _num(x: float) -> str:
    """A gradient norm or a fraction of one as people write it: 0.066, 2.6e-11."""
    return f"{x:.2g}" if math.isfinite(x) else str(x)


def _median(values: np.ndarray) -> float:
    """The median of the recorded values (nan marks a step where nothing was recorded); nan if none."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(np.median(values)) if values.size else math.nan


def _owner(inspector: Inspector, param: str) -> str | None:
    """The deepest recorded layer whose name prefixes the parameter's."""
    owners = [layer for layer in inspector.layers if layer == "" or param.startswith(layer + ".")]
    return max(owners, key=len) if owners else None


# The weight matrices of recurrent layers (weight_ih_l0, weight_hh_l1_reverse, LSTM's weight_hr_l0) and attention's.
_MATRIX = re.compile(r"weight_(ih|hh|hr)(_l\d+)?(_reverse)?|(in|q|k|v)_proj_weight")


def _weights(inspector: Inspector) -> list[str]:
    """The weight matrices of `Linear` / `Conv` layers, recurrent layers and attention, in depth order: where
    gradients are compared."""
    weights = []
    for param in inspector.params:
        owner = _owner(inspector, param)
        leaf = param.rsplit(".", 1)[-1]
        if owner is not None and (inspector.kinds.get(owner) == "linear" and leaf == "weight"
                                  or _MATRIX.fullmatch(leaf)):
            weights.append(param)
    return weights


def _layer(name: str) -> str:
    return repr(name) if name else "the model's own output"


def _listed(values: list[float]) -> str:
    """Up to six values, the middle elided."""
    shown = [_num(v) for v in values]
    return ", ".join(shown if len(shown) <= 6 else [*shown[:3], "…", *shown[-3:]])


def _gradient_findings(inspector: Inspector, steps: np.ndarray) -> list[Finding]:
    gradients = inspector.gradients
    overflowed = [(int(steps[np.flatnonzero(np.isinf(gradients[p]["norm"]))[0]]), p) for p in inspector.params
                  if np.isinf(gradients[p]["norm"]).any()]
    if overflowed:
        step, param = min(overflowed)
        return [Finding("exploding_gradients", f"the gradient of {param!r} overflowed to infinity at step {step} "
                                               f"({len(overflowed)} parameter{'s' * (len(overflowed) > 1)} in all) "
                                               f"→ {_TAME}.")]
    if inspector.params:
        table = np.stack([gradients[p]["norm"] for p in inspector.params], axis=1)
        recorded = ~np.isnan(table).all(axis=1)
        total = np.sqrt(np.nansum(table[recorded] ** 2, axis=1))
        if total.size >= 2 and total[0] > 0:
            end = float(np.median(total[-RECENT_STEPS:]))
            growth = math.log10(end / total[0]) if end > 0 else -math.inf
            if growth >= EXPLODING_ORDERS:
                first_step, last_step = int(steps[recorded][0]), int(steps[recorded][-1])
                return [Finding("exploding_gradients",
                                f"the total gradient norm grew {growth:.1f} orders of magnitude, from "
                                f"{_num(float(total[0]))} at step {first_step} to {_num(end)} by step {last_step} "
                                f"(median of the last {min(RECENT_STEPS, total.size)} recorded steps) → {_TAME}.")]
    weights = _weights(inspector)
    norms = [_median(gradients[p]["norm"]) for p in weights]
    over = f"medians over {len(steps)} recorded step{'s' * (len(steps) > 1)}"
    if len(weights) >= 2 and all(math.isfinite(v) and v >= 0 for v in norms):
        first, last = norms[0], norms[-1]
        orders = (math.log10(last / first) if first > 0 and last > 0 else
                  math.inf if last > 0 else -math.inf if first > 0 else 0.0)
        where = (f"(layer by layer over the {len(weights)} weight layers: {_listed(norms)}; {over})")
        if orders >= VANISHING_ORDERS:
            size = "is zero" if first == 0 else f"{_num(first)} is {orders:.1f} orders of magnitude below"
            return [Finding("vanishing_gradients",
                            f"the first layer's gradient norm ({weights[0]}) {size} the last layer's ({weights[-1]}) "
                            f"{_num(last)} {where}: the early layers barely learn → use ReLU-family activations "
                            f"with He (kaiming) init instead of saturating sigmoid/tanh, add normalisation "
                            f"(BatchNorm/LayerNorm) or residual connections.")]
        if orders <= -EXPLODING_ORDERS:
            return [Finding("exploding_gradients",
                            f"the first layer's gradient norm ({weights[0]}) {_num(first)} is {-orders:.1f} orders "
                            f"of magnitude above the last layer's ({weights[-1]}) {_num(last)} {where}: gradients "
                            f"grow on their way back → {_TAME}.")]
    return []


def _unit_findings(inspector: Inspector) -> list[Finding]:
    activations = inspector.activations
    findings = []
    count = min(RECENT_STEPS, len(inspector.steps))
    recent = f"median{'s' * (count > 1)} of the last {count} recorded step{'s' * (count > 1)}"
    relus = [(layer, _median(activations[layer]["dead"][-RECENT_STEPS:])) for layer in inspector.layers
             if inspector.kinds[layer] == "relu"]
    dead = sorted(((v, layer) for layer, v in relus if v >= DEAD_FRACTION), reverse=True)
    if dead:
        shown = ", ".join(f"{_layer(layer)} {_pct(v)}" for v, layer in dead[:5]) + (", …" if len(dead) > 5 else "")
        findings.append(Finding("dead_relus",
                                f"{len(dead)} of {len(relus)} ReLU layer{'s' * (len(relus) > 1)} "
                                f"{'has' if len(dead) == 1 else 'have'} at least {_pct(DEAD_FRACTION)} of their "
                                f"units dead (zero for every sample of the batch; {recent}): {shown}. A dead unit "
                                f"passes no gradient back and never recovers → check for very negative biases, "
                                f"lower the learning rate, use He (kaiming) init, LeakyReLU or GELU, or BatchNorm "
                                f"before the ReLU."))
    squashing = [(layer, _median(activations[layer]["saturated"][-RECENT_STEPS:])) for layer in inspector.layers
                 if inspector.kinds[layer] in ("tanh", "sigmoid")]
    saturated = sorted(((v, layer) for layer, v in squashing if v >= SATURATED_FRACTION), reverse=True)
    if saturated:
        shown = ", ".join(f"{_layer(layer)} ({inspector.kinds[layer]}) {_pct(v)}" for v, layer in saturated[:5])
        findings.append(Finding("saturated_units",
                                f"{len(saturated)} of {len(squashing)} tanh/sigmoid layer"
                                f"{'s' * (len(squashing) > 1)} {'has' if len(saturated) == 1 else 'have'} at least "
                                f"{_pct(SATURATED_FRACTION)} of their outputs saturated (|tanh| > "
                                f"{TANH_SATURATION}, sigmoid outside [{SIGMOID_SATURATION[0]}, "
                                f"{SIGMOID_SATURATION[1]}]; {recent}): "
                                f"{shown}{', …' if len(saturated) > 5 else ''}. A saturated unit's slope is almost "
                                f"zero, so its gradient vanishes → scale the init down (Xavier, or He with gain 5/3 "
                                f"for tanh), normalise the pre-activations (BatchNorm), or lower the learning rate."))
    return findings


def _ratio_findings(inspector: Inspector, steps: np.ndarray) -> list[Finding]:
    ratios = inspector.update_ratios
    medians = {p: _median(ratios[p]) for p in _weights(inspector)}
    medians = {p: v for p, v in medians.items() if not math.isnan(v)}
    if len(medians) < 2:  # with two, each against the other: both are flagged when each is out on its side
        return []
    findings = []
    for param, value in medians.items():
        others = float(np.median([v for p, v in medians.items() if p != param]))
        gap = value - others
        # Far from the others (false for -inf - -inf too), and outside the band around the rule of thumb on that
        # side: the last layer of a plain net often sits an order above the rest, close to -3, and is fine there.
        if not (abs(gap) >= RATIO_OUTLIER_ORDERS and abs(value - RATIO_RULE) > RATIO_BAND):
            continue
        if (gap > 0) != (value > RATIO_RULE):
            continue
        size = ("did not move at all (update ratio -inf)" if value == -math.inf else
                f"moves by 10^{value:.1f} of its size per step (update ratio {value:.1f}, median over {len(steps)} "
                f"recorded steps)")
        side = "above" if gap > 0 else "below"
        advice = ("its learning rate is too high for that layer → lower it (its param_groups entry) or check its "
                  "init" if gap > 0 else
                  "it barely learns → raise its learning rate, or look for a vanishing gradient or a frozen layer")
        findings.append(Finding("update_ratio_outlier",
                                f"{param!r} {size}, {abs(gap):.1f} orders of magnitude {side} the median of the "
                                f"other weight layers ({others:.1f}; the rule of thumb is about {RATIO_RULE:.0f}): "
                                f"{advice}."))
    return findings


def _missing_findings(inspector: Inspector, steps: np.ndarray) -> list[Finding]:
    """Parameters that still require grad and had no gradient at any recorded step (``last_gradients`` holds a
    sample of every gradient the Inspector saw, a NaN one included)."""
    requires = {name: p.requires_grad and p.numel() > 0 for name, p in inspector.model.named_parameters()}
    missing = [p for p in inspector.params if p not in inspector.last_gradients and requires.get(p, False)]
    if not missing:
        return []
    shown = ", ".join(repr(p) for p in missing[:6]) + (", …" if len(missing) > 6 else "")
    return [Finding("no_gradient",
                    f"{len(missing)} of {len(inspector.params)} parameters got no gradient at any of the {len(steps)} "
                    f"recorded step{'s' * (len(steps) > 1)} (their .grad stayed None): {shown}. Their layer is never "
                    f"called in forward, or its output is cut off from the loss (detach(), .data, .numpy(), a "
                    f"no_grad block) → use it, or find where the graph breaks (tg.viz.plot_graph of the loss); if "
                    f"they are unused on purpose, freeze them (requires_grad_(False)) and leave them out of the "
                    f"optimizer.")]


def _layers_summary(inspector: Inspector, steps: np.ndarray) -> str:
    parts = []
    weights = _weights(inspector)
    gradients = inspector.gradients
    norms = [_median(gradients[p]["norm"]) for p in weights]
    if len(weights) >= 2 and all(math.isfinite(v) and v > 0 for v in norms):
        parts.append(f"gradient norms from {_num(norms[0])} (first layer) to {_num(norms[-1])} (last), "
                     f"{abs(math.log10(norms[-1] / norms[0])):.1f} orders of magnitude apart")
    ratios = [v for v in (_median(inspector.update_ratios[p]) for p in weights) if math.isfinite(v)]
    if ratios:
        parts.append(f"update ratios {min(ratios):.1f} to {max(ratios):.1f} (log10; about {RATIO_RULE:.0f} is the "
                     f"rule of thumb)")
    activations = inspector.activations
    for kinds, stat, what in ((("relu",), "dead", "of a ReLU layer's units dead"),
                              (("tanh", "sigmoid"), "saturated", "of a tanh/sigmoid layer's outputs saturated")):
        values = [_median(activations[layer][stat][-RECENT_STEPS:]) for layer in inspector.layers
                  if inspector.kinds[layer] in kinds]
        values = [v for v in values if not math.isnan(v)]
        if values:
            parts.append(f"at most {_pct(max(values))} {what}")
    seen = f"over {len(steps)} recorded step{'s' * (len(steps) > 1)}"
    return f"The layers look healthy {seen}" + (": " + "; ".join(parts) if parts else "") + "."


def _with_layers(diagnosis: Diagnosis, inspector: Inspector, loss_curves: bool = True) -> Diagnosis:
    """The loss-curve findings with the Inspector's: its problems after the curves' problems."""
    steps = inspector.steps
    findings = list(diagnosis)
    if steps.size == 0:
        note = Finding("not_inspected", "the Inspector recorded no step: pass it to fit(callbacks=[...]), or call "
                                        "insp.before_step() and insp.after_step() around optimizer.step() inside "
                                        "`with insp:`.")
        return Diagnosis([*findings, note], diagnosis.epochs, 0)
    problems = _gradient_findings(inspector, steps)
    problems += _unit_findings(inspector)
    problems += _missing_findings(inspector, steps)
    # With vanishing or exploding gradients, spread-out update ratios are their echo.
    if not [f for f in problems if f.kind != "no_gradient"]:
        problems += _ratio_findings(inspector, steps)
    head = [f for f in findings if f.kind in PROBLEMS]
    rest = [f for f in findings if f.kind not in PROBLEMS]
    if problems:
        rest = [f for f in rest if f.kind != "healthy"]
    else:
        summary = _layers_summary(inspector, steps)
        if any(f.kind == "healthy" for f in rest):
            rest = [Finding(f.kind, f"{f.message} {summary}", f.epoch) if f.kind == "healthy" else f for f in rest]
        elif not head or not loss_curves:
            rest.append(Finding("healthy", summary))
    return Diagnosis(head + problems + rest, diagnosis.epochs, int(steps.size))
