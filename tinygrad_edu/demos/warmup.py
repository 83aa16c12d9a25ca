"""Learning-rate warmup, Adam and the Transformer: why the first steps are risky, and when warmup matters.

What it teaches, in two parts.

1. The "why" picture (Liu et al. 2020, the RAdam paper). Adam divides each step
   by sqrt(v̂_t), where v̂_t = v_t / (1 - beta2^t) is its bias-corrected average of
   squared gradients. In the first steps v̂_t averages only a few squares, so the
   adaptive step psi_t = 1 / sqrt(v̂_t) is wildly variable. Simulated here as in
   the paper: gradients g_t ~ N(0, 1), independent, in many independent runs,
   and the variance of psi_t over the runs plotted against t. Exactly:

   - t = 1: v̂_1 = g_1^2, so psi_1 = 1 / |g_1| and P(psi_1 > y) = erf(1 / (y sqrt 2)) ~ 0.8 / y:
     a tail so heavy that E[psi_1^2] = E[1 / g_1^2] is infinite. The sample variance never
     settles; it grows roughly in proportion to the number of runs.
   - t = 2: v̂_2 is (almost exactly) a chi-square with 2 degrees of freedom over 2, and
     E[1 / v̂_2] is still infinite (logarithmically): the sample variance creeps up with the runs.
   - t >= 3: the variance is finite and falls towards 0 as v̂_t averages more squares.

   RAdam approximates v̂_t by sigma^2 chi^2_rho / rho with rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t),
   rho_inf = 2 / (1 - beta2) - 1, which gives (sigma = 1)

       Var[psi_t] ~ rho / (rho - 2) - rho Gamma((rho - 1) / 2)^2 / (2 Gamma(rho / 2)^2)   (rho > 2, else infinite)

   and is the curve drawn beside the simulation. Linear warmup multiplies the first
   steps by a small factor, which is one way of not trusting those steps; RAdam
   switches the adaptive step off until rho_t > 5 (PyTorch's threshold; the paper's
   is 4) and then multiplies it by its rectifier r_t. Both are drawn too.

2. Does a small Transformer need warmup? Xiong et al. 2020: Post-LN (the original
   layout, LayerNorm after each residual addition) has large gradients near the
   output at initialisation and needs warmup; Pre-LN (LayerNorm inside the branch,
   GPT-2's layout) much less. nanoGPT (Pre-LN) calls its warmup "not super necessary".
   Here a 2-layer encoder (d_model 32, 4 heads, feed-forward 64, no dropout, learned
   position embeddings, a token classifier per position) learns to sort 8 digits
   0-9, with fresh batches of 64 each step. Post-LN and Pre-LN, Adam (PyTorch's
   defaults) at two rates fixed before any run was looked at, 1e-3 (the sources'
   default) and 3e-3 (the top of the usual range for a model this size), with and
   without a linear warmup over the first 5 % of the steps (the sources' figure;
   ``LinearLR(start_factor=1/W, total_iters=W)``), three seeds each. Each seed gives
   every configuration the same initial weights (as far as the layouts share
   them) and the same batches, so the comparison is paired.

   A run counts as diverged when its loss becomes NaN/inf or its held-out loss ends
   above the uniform guess ln 10; as stalled when it ends no better than the
   position-only baseline (the loss of knowing only which digits each sorted
   position tends to hold, computed exactly); otherwise it trained.

What was measured (full mode: 1,000,000 simulated runs; 300 steps, seeds 0-2):

- Var[psi_t]: t = 1 1.8e6 (and 1.8e3, 1.1e4, 3.5e4 over the first 1e3, 1e4, 1e5 runs: no limit),
  t = 2 about 11 (4.5, 4.9, 14, 11: no limit either), t = 3 1.06 (exact 1.090, approached
  slowly from below: psi_3's fourth moment is infinite), t = 5 0.25, t = 10 0.076, t = 50 0.011;
  RAdam's approximation 1.092, 0.252, 0.076, 0.011 at t = 3, 5, 10, 50. Under the 15-step
  linear warmup the adaptive part of the step, (eta_t / eta) psi_t, has variance 8.1e3 (still
  infinite in truth: warmup only scales it), 0.18, 0.039, 0.030 at t = 1, 2, 3, 10; under RAdam,
  r_t psi_t has 1.2e-4, 1.8e-4, 2.4e-4 at t = 6, 10, 50, at or below its target 2.5e-4 (the
  variance at rho_inf; r_t comes from a first-order approximation, so it overcorrects early).
- At initialisation (Xiong et al.'s picture), the gradient norm of each encoder layer's
  parameters, mean over the 3 seeds, first -> last layer: 2 layers Post-LN 0.296 0.293,
  Pre-LN 0.195 0.189; 6 layers Post-LN 0.297 0.249 0.244 0.253 0.272 0.326 (rising towards the
  output), Pre-LN 0.199 0.175 0.159 0.150 0.145 0.145. Post-LN's last layer gets 1.55x Pre-LN's
  gradient with 2 layers and 2.25x with 6 (Xiong et al.'s bounds for the two differ by
  sqrt(L): 1.41 and 2.45). So the cause they name is there, and grows with depth, but at
  2 layers it is a factor 1.5, and no run below was hurt by it.
- Training: all 24 runs trained (held-out accuracy 98.5-100 % of digits); none diverged or
  stalled, Post-LN without warmup at 3e-3 included. Mean final held-out loss without -> with
  warmup: Post-LN 1e-3 0.079 -> 0.089, Pre-LN 1e-3 0.070 -> 0.076, Post-LN 3e-3 0.009 -> 0.019,
  Pre-LN 3e-3 0.014 -> 0.025. Warmup ended behind in 11 of the 12 paired runs: at this toy
  scale it only spends its first 15 steps at a lower rate. The claim that Post-LN *needs*
  warmup does not show in a 2-layer, 32-wide model at these rates; Xiong et al.'s argument is
  about the gradient's scale near the output at initialisation, which grows with the width, and
  Pre-LN's advantage grows with the depth (a factor sqrt(L)), both small here. The example
  ``examples/15_transformer_warmup.py`` prints and asserts these numbers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import nn, optim
from .._checks import check_seed
from ..autograd import no_grad
from ..factories import arange
from ..rng import manual_seed
from ..tensor import Tensor
from . import output_directory

SEQ_LEN, VOCAB = 8, 10                        # sort 8 digits 0-9
D_MODEL, NHEAD, FEEDFORWARD, LAYERS = 32, 4, 64, 2
DEEP_LAYERS = 6                               # a deeper stack, looked at only at initialisation
BATCH = 64
RATES = (1e-3, 3e-3)                          # fixed before any run was looked at
WARMUP_FRACTION = 0.05                        # the sources' "about 5 % of the steps"
BETA2 = 0.999                                 # Adam's default (PyTorch, the sources)


# -- part 1: the variance of Adam's adaptive step ---------------------------------------------------------------

def adaptive_steps(runs: int, steps: int, beta2: float = BETA2, seed: int = 0) -> Iterator[np.ndarray]:
    """psi_t = 1 / sqrt(v̂_t), t = 1..steps, for ``runs`` independent runs of Adam's second moment fed g_t ~ N(0, 1).

    v_t = beta2 v_{t-1} + (1 - beta2) g_t^2 (v_0 = 0), v̂_t = v_t / (1 - beta2^t); no eps (it
    would only cap psi at 1e8). Yields one array of ``runs`` values per step, psi_1 first.

    Example:
        >>> [psi.shape for psi in adaptive_steps(runs=4, steps=2)]
        [(4,), (4,)]
    """
    rng = np.random.default_rng(seed)
    v = np.zeros(runs)
    for t in range(1, steps + 1):
        g = rng.standard_normal(runs)
        v = beta2 * v + (1 - beta2) * g**2
        yield 1 / np.sqrt(v / (1 - beta2**t))


def radam_rho(t: np.ndarray | int, beta2: float = BETA2) -> np.ndarray:
    """RAdam's degrees of freedom of v̂_t: rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t), rho_inf = 2/(1-beta2) - 1.

    Example:
        >>> round(float(radam_rho(1)), 6)      # v̂_1 = g_1^2: one degree of freedom
        1.0
    """
    t = np.asarray(t, dtype=np.float64)
    rho_inf = 2 / (1 - beta2) - 1
    return rho_inf - 2 * t * beta2**t / (1 - beta2**t)


def radam_variance(rho: float) -> float:
    """Var[psi] when v̂ = chi^2_rho / rho (RAdam's approximation, sigma = 1); ``inf`` for rho <= 2.

    psi^2 = rho / chi^2_rho has mean rho / (rho - 2), and E[psi] = sqrt(rho / 2) Gamma((rho-1)/2) / Gamma(rho/2).

    Example:
        >>> round(radam_variance(1000.0), 6)   # large rho: Var[psi] ~ 1 / (2 rho)
        0.000502
    """
    if rho <= 2:
        return math.inf
    mean = math.sqrt(rho / 2) * math.exp(math.lgamma((rho - 1) / 2) - math.lgamma(rho / 2))
    return rho / (rho - 2) - mean**2


def radam_rectifier(rho: np.ndarray, beta2: float = BETA2) -> np.ndarray:
    """RAdam's r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t)); NaN where rho_t <= 5.

    RAdam multiplies the adaptive step by r_t so that Var[r_t psi_t] equals the variance at rho_inf
    (under its approximation); where rho_t <= 5 (PyTorch's threshold, the paper's is 4) it takes a
    plain momentum step with no adaptive part at all.

    Example:
        >>> r = radam_rectifier(radam_rho(np.array([1, 6, 1000])))
        >>> bool(np.isnan(r[0])), bool(0 < r[1] < r[2] < 1)
        (True, True)
    """
    rho = np.asarray(rho, dtype=np.float64)
    rho_inf = 2 / (1 - beta2) - 1
    with np.errstate(invalid="ignore"):
        r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
    return np.where(rho > 5, r, np.nan)


def warmup_factors(steps: int, warmup_steps: int) -> np.ndarray:
    """The factor eta_t / eta of ``LinearLR(start_factor=1/W, total_iters=W)`` at steps t = 1..steps (W = warmup_steps).

    Example:
        >>> warmup_factors(5, 4).tolist()
        [0.25, 0.4375, 0.625, 0.8125, 1.0]
    """
    t = np.arange(steps)
    start = 1 / warmup_steps
    return start + (1 - start) * np.minimum(t, warmup_steps) / warmup_steps


# -- part 2: a small encoder sorting digits -------------------------------------------------------------------

class SortingEncoder(nn.Module):
    """Token and position embeddings, a 2-layer `TransformerEncoder`, a per-position classifier over the digits.

    ``norm_first=True`` is Pre-LN (with a final LayerNorm, as GPT-2 and Xiong et al.), False is Post-LN;
    ``num_layers`` encoder layers (2 for the training runs).

    Example:
        >>> import tinygrad_edu as tg
        >>> SortingEncoder(norm_first=True)(tg.tensor([[3, 1, 2, 0, 9, 9, 5, 4]])).shape
        (1, 8, 10)
    """

    def __init__(self, norm_first: bool, num_layers: int = LAYERS) -> None:
        super().__init__()
        self.tokens = nn.Embedding(VOCAB, D_MODEL)
        self.positions = nn.Embedding(SEQ_LEN, D_MODEL)
        layer = nn.TransformerEncoderLayer(D_MODEL, NHEAD, dim_feedforward=FEEDFORWARD, dropout=0.0,
                                           batch_first=True, norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(D_MODEL) if norm_first else None)
        self.head = nn.Linear(D_MODEL, VOCAB)

    def forward(self, digits: Tensor) -> Tensor:
        """Logits (N, SEQ_LEN, VOCAB) for digits (N, SEQ_LEN)."""
        return self.head(self.encoder(self.tokens(digits) + self.positions(arange(SEQ_LEN))))


def sorting_batch(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` sequences of SEQ_LEN uniform digits and, as targets, the same digits sorted.

    Example:
        >>> x, y = sorting_batch(np.random.default_rng(0), 2)
        >>> bool((np.sort(x, axis=1) == y).all())
        True
    """
    x = rng.integers(0, VOCAB, size=(n, SEQ_LEN))
    return x, np.sort(x, axis=1)


def position_only_loss() -> float:
    """The cross-entropy of the best predictor that ignores the input: each sorted position's digit distribution.

    The k-th smallest of SEQ_LEN uniform digits is <= d when at least k of them are:
    P(X_(k) <= d) = sum_{j >= k} C(n, j) p^j (1 - p)^(n - j), p = (d + 1) / VOCAB. The loss is
    the mean over positions of that distribution's entropy.

    Example:
        >>> 1.0 < position_only_loss() < math.log(VOCAB)
        True
    """
    n = SEQ_LEN
    entropies = []
    for k in range(1, n + 1):
        cdf = [sum(math.comb(n, j) * ((d + 1) / VOCAB) ** j * (1 - (d + 1) / VOCAB) ** (n - j)
                   for j in range(k, n + 1)) for d in range(VOCAB)]
        p = np.diff(np.concatenate([[0.0], cdf]))
        p = p[p > 0]
        entropies.append(float(-(p * np.log(p)).sum()))
    return float(np.mean(entropies))


def evaluate(model: SortingEncoder, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Held-out cross-entropy and per-digit accuracy."""
    with no_grad():
        logits = model(Tensor(x))
        loss = nn.functional.cross_entropy(logits.reshape(-1, VOCAB), Tensor(y.reshape(-1))).item()
    return loss, float((logits.numpy().argmax(-1) == y).mean())


def init_gradient_norms(norm_first: bool, num_layers: int, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    """The gradient norm of each encoder layer's parameters at initialisation, first layer first (Xiong et al.).

    One batch (the first training batch of ``seed``), one backward pass of the cross-entropy. Returns the
    norms and the state needed to redo it elsewhere (``state_dict``, the batch ``x``, ``y``).
    """
    manual_seed(seed)
    model = SortingEncoder(norm_first, num_layers)
    x, y = sorting_batch(np.random.default_rng(seed), BATCH)
    state = {"state_dict": model.state_dict(), "x": x, "y": y}
    nn.functional.cross_entropy(model(Tensor(x)).reshape(-1, VOCAB), Tensor(y.reshape(-1))).backward()
    norms = [math.sqrt(sum(float((p.grad.numpy().astype(np.float64) ** 2).sum()) for p in layer.parameters()))
             for layer in model.encoder.layers]
    return np.array(norms), state


def train_one(norm_first: bool, lr: float, warmup_steps: int, steps: int, seed: int,
              held_out: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    """Train one encoder with Adam(lr), linearly warmed up over ``warmup_steps`` (0: none); its losses and rates.

    Returns ``train_loss`` (per step, each on a fresh batch, so an unbiased estimate of the loss on new
    data), ``lr`` (the rate each step used), ``final_loss`` and ``final_accuracy`` (on ``held_out``), and
    ``diverged`` (a NaN/inf loss stopped the run), ``state_dict`` (the final weights, PyTorch's key names).
    """
    manual_seed(seed)
    model = SortingEncoder(norm_first)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    scheduler = (optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / warmup_steps, total_iters=warmup_steps)
                 if warmup_steps else None)
    rng = np.random.default_rng(seed)          # the same batches for every configuration of a seed
    losses, rates = [], []
    diverged = False
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            x, y = sorting_batch(rng, BATCH)
            loss = nn.functional.cross_entropy(model(Tensor(x)).reshape(-1, VOCAB), Tensor(y.reshape(-1)))
            optimizer.zero_grad()
            loss.backward()
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            losses.append(loss.item())
            if not math.isfinite(losses[-1]):
                diverged = True
                break
        final_loss, final_accuracy = evaluate(model, *held_out) if not diverged else (math.nan, 0.0)
    return {"train_loss": np.array(losses), "lr": np.array(rates), "final_loss": final_loss,
            "final_accuracy": final_accuracy, "diverged": diverged, "state_dict": model.state_dict()}


def verdict(result: dict[str, Any], baseline: float) -> str:
    """'diverged' (NaN/inf, or ends above ln VOCAB), 'stalled' (ends no better than ``baseline``) or 'trained'."""
    if result["diverged"] or not result["final_loss"] < math.log(VOCAB):
        return "diverged"
    return "stalled" if result["final_loss"] >= baseline else "trained"


# -- the demo ------------------------------------------------------------------------------------------------

def _figure(variance: dict[str, Any], runs: dict, baseline: float, init_norms: dict, path: str) -> str:
    from .. import viz  # only the picture needs matplotlib

    return viz.save_figure(viz.styled(_picture)(variance, runs, baseline, init_norms), path, dpi=90)


def _picture(variance: dict[str, Any], runs: dict, baseline: float, init_norms: dict) -> Any:
    from matplotlib.figure import Figure

    from .. import viz

    fig = Figure(figsize=(16, 10), layout="constrained")
    (left, middle), (right, grads) = fig.subplots(2, 2)
    t = variance["t"]
    left.semilogy(t, variance["simulated"], "o-", ms=3, label=f"simulated, {variance['runs']:,} runs")
    approx = np.where(np.isfinite(variance["radam"]), variance["radam"], np.nan)
    left.semilogy(t, approx, "--", label="RAdam's approximation (rho_t)")
    left.semilogy(t, variance["with_warmup"], "s-", ms=3, label="with linear warmup: (eta_t / eta) psi_t")
    left.semilogy(t, variance["rectified"], "^-", ms=3, label="RAdam: r_t psi_t (none while rho_t <= 5)")
    left.axhline(variance["limit"], color="grey", lw=0.8, ls=":", label="the variance at rho_inf")
    for values in (variance["simulated"], variance["with_warmup"]):
        left.semilogy(t[:2], values[:2], "rx", ms=10, label="t = 1, 2: true variance infinite"
                      if values is variance["simulated"] else None)
    left.set_xlabel("step t")
    left.set_ylabel("Var[1 / sqrt(v̂_t)]")
    left.set_title("Adam's adaptive step, g_t ~ N(0, 1)")
    viz.place_legend(left)
    post, pre = viz.PALETTE[1], viz.PALETTE[0]
    styles = {(False, False): (post, "-"), (False, True): (post, ":"),
              (True, False): (pre, "-"), (True, True): (pre, ":")}
    for axis, lr in ((middle, RATES[0]), (right, RATES[1])):
        for (norm_first, warm, rate), seeds in runs.items():
            if rate != lr:
                continue
            color, style = styles[(norm_first, warm)]
            for i, result in enumerate(seeds):
                label = f"{'Pre' if norm_first else 'Post'}-LN, {'warmup' if warm else 'no warmup'}" if i == 0 else None
                smooth = np.convolve(result["train_loss"], np.ones(10) / 10, mode="valid")   # 10-step mean
                axis.plot(np.arange(10, len(smooth) + 10), smooth, style, color=color, alpha=0.8, label=label)
        axis.axhline(baseline, color="grey", lw=0.8, label="position-only baseline")
        axis.axhline(math.log(VOCAB), color="black", lw=0.8, label="uniform guess ln 10")
        axis.set_yscale("log")
        axis.set_xlabel("step")
        axis.set_ylabel("training loss (fresh batches, 10-step mean)")
        axis.set_title(f"sorting 8 digits, Adam lr {lr:g}")
        viz.place_legend(axis)
    for (norm_first, depth), norms in init_norms.items():
        color = pre if norm_first else post
        for i, row in enumerate(norms):
            grads.semilogy(np.arange(1, depth + 1), row, "o-" if depth == DEEP_LAYERS else "s--", color=color,
                           alpha=0.7, label=f"{'Pre' if norm_first else 'Post'}-LN, {depth} layers" if i == 0 else None)
    grads.set_xlabel("encoder layer (1 = nearest the input)")
    grads.set_ylabel("gradient norm of the layer's parameters")
    grads.set_title("at initialisation (Xiong et al.)")
    viz.place_legend(grads)
    return fig


def run(out: str | None = None, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Simulate the variance of Adam's adaptive step, then train Post-LN/Pre-LN encoders with and without warmup.

    Full mode: 1,000,000 simulated runs over 50 steps; 300 training steps, 3 seeds per configuration.
    ``quick``: 100,000 runs; the first 60 steps (with the same 15-step warmup), 2 seeds.

    Returns ``variance`` (``t``; ``simulated`` Var[psi_t]; ``radam``, RAdam's approximation of it;
    ``with_warmup`` and ``rectified``, the variances of (eta_t/eta) psi_t and r_t psi_t; ``limit``, the
    variance at rho_inf; ``runs``; ``by_runs``, the t = 1, 2, 3 sample variances over the first ``sizes``
    runs; ``tail_points`` and ``t1_tail``, the fraction of runs with psi_1 > y; ``mean_psi``), ``runs``
    (``(norm_first, warmup, lr) -> [one train_one result per seed]``), ``verdicts`` (same keys, a list of
    'trained'/'stalled'/'diverged'), ``baseline`` (the position-only loss), ``steps``, ``warmup_steps``,
    ``seeds``, ``held_out`` (the evaluation digits and targets), ``init_norms`` (``(norm_first, layers) ->``
    an array seeds x layers of gradient norms at initialisation), ``init_states`` (the first seed's weights
    and batch for each) and ``files``.

    Example:
        >>> r = run(quick=True)                    # doctest: +SKIP
    """
    check_seed("warmup.run", seed)
    if out is not None:
        out = output_directory("warmup.run", out)  # before minutes of training, not after
    sim_runs, sim_steps = (100_000, 50) if quick else (1_000_000, 50)
    full_steps = 300
    steps, n_seeds = (60, 2) if quick else (full_steps, 3)
    warmup_steps = round(WARMUP_FRACTION * full_steps)
    seeds = list(range(seed, seed + n_seeds))

    # Part 1
    t = np.arange(1, sim_steps + 1)
    simulated, mean_psi, first = np.empty(sim_steps), np.empty(sim_steps), []
    for i, psi in enumerate(adaptive_steps(sim_runs, sim_steps, seed=seed)):
        simulated[i], mean_psi[i] = psi.var(), psi.mean()
        if i < 3:
            first.append(psi)                # t = 1, 2, 3 kept whole for the sample-size picture
    radam = np.array([radam_variance(float(rho)) for rho in radam_rho(t)])
    # The step's adaptive part under linear warmup, eta_t/eta psi_t, and under RAdam, r_t psi_t.
    with_warmup = warmup_factors(sim_steps, warmup_steps) ** 2 * simulated
    rectified = radam_rectifier(radam_rho(t)) ** 2 * simulated
    sizes = [10**k for k in range(3, int(math.log10(sim_runs)) + 1)]
    by_runs = {step: [float(first[step - 1][:n].var()) for n in sizes] for step in (1, 2, 3)}
    tail_points = [10.0, 100.0, 1000.0]
    tail = [float((first[0] > y).mean()) for y in tail_points]
    variance = {"t": t, "simulated": simulated, "radam": radam, "with_warmup": with_warmup, "rectified": rectified,
                "limit": radam_variance(2 / (1 - BETA2) - 1), "runs": sim_runs, "sizes": sizes,
                "by_runs": by_runs, "tail_points": tail_points, "t1_tail": tail, "mean_psi": mean_psi}
    print(f"Adam's adaptive step psi_t = 1/sqrt(v̂_t), g_t ~ N(0, 1), beta2 = {BETA2}, {sim_runs:,} runs:")
    for step in (1, 2, 3, 5, 10, 20, 50):
        if step <= sim_steps:
            print(f"  t = {step:>2}: Var[psi_t] = {simulated[step - 1]:10.4g}   RAdam's rho_t = "
                  f"{float(radam_rho(step)):6.2f}, its approximation {radam[step - 1]:.4g}")
    print(f"  with linear warmup over {warmup_steps} steps, Var[(eta_t/eta) psi_t] at t = 1, 2, 3, 10: "
          + ", ".join(f"{with_warmup[k - 1]:.4g}" for k in (1, 2, 3, 10))
          + "; RAdam's Var[r_t psi_t] at t = 6, 10, 50: "
          + ", ".join(f"{rectified[k - 1]:.4g}" for k in (6, 10, 50))
          + f" (its target, the variance at rho_inf: {variance['limit']:.4g}; no adaptive step while rho_t <= 5)")
    for step, values in by_runs.items():
        print(f"  sample variance at t = {step} over the first " + ", ".join(f"{n:,}" for n in sizes) + " runs: "
              + ", ".join(f"{v:.4g}" for v in values) + ("   (finite: converges)" if step == 3 else
                                                         "   (infinite: does not settle)"))
    print("  P(psi_1 > y) for y = " + ", ".join(f"{y:g}" for y in tail_points) + ": "
          + ", ".join(f"{p:.4g}" for p in tail) + "   (exact erf(1/(y sqrt 2)): "
          + ", ".join(f"{math.erf(1 / (y * math.sqrt(2))):.4g}" for y in tail_points) + ")")

    # Part 2
    baseline = position_only_loss()
    held_out = sorting_batch(np.random.default_rng(10_000), 500)
    init_norms: dict[tuple[bool, int], np.ndarray] = {}
    init_states: dict[tuple[bool, int], dict[str, Any]] = {}
    print(f"\nAt initialisation, on one batch of the sorting task: gradient norm of each encoder layer "
          f"(first -> last), mean over seeds {seeds}:")
    for depth in (LAYERS, DEEP_LAYERS):
        for norm_first in (False, True):
            measured = [init_gradient_norms(norm_first, depth, s) for s in seeds]
            init_norms[(norm_first, depth)] = np.array([norms for norms, _ in measured])
            init_states[(norm_first, depth)] = measured[0][1]
            print(f"  {depth} layers, {'Pre' if norm_first else 'Post'}-LN: "
                  + " ".join(f"{v:.3f}" for v in init_norms[(norm_first, depth)].mean(axis=0)))
    print(f"\nSorting {SEQ_LEN} digits with a {LAYERS}-layer encoder (d_model {D_MODEL}), batch {BATCH}, "
          f"{steps} steps, warmup {warmup_steps} steps, seeds {seeds}; held-out loss (uniform guess "
          f"{math.log(VOCAB):.3f}, position-only baseline {baseline:.3f}):")
    runs: dict[tuple[bool, bool, float], list[dict[str, Any]]] = {}
    verdicts: dict[tuple[bool, bool, float], list[str]] = {}
    for lr in RATES:
        for norm_first in (False, True):
            for warm in (False, True):
                key = (norm_first, warm, lr)
                runs[key] = [train_one(norm_first, lr, warmup_steps if warm else 0, steps, s, held_out)
                             for s in seeds]
                verdicts[key] = [verdict(result, baseline) for result in runs[key]]
                print(f"  lr {lr:g}  {'Pre' if norm_first else 'Post'}-LN  {'warmup   ' if warm else 'no warmup'}:"
                      " loss " + "  ".join(f"{r['final_loss']:.4f}" for r in runs[key])
                      + "   accuracy " + "  ".join(f"{r['final_accuracy']:.3f}" for r in runs[key])
                      + "   " + ", ".join(verdicts[key]))

    files = []
    if out is not None:
        os.makedirs(out, exist_ok=True)
        files.append(_figure(variance, runs, baseline, init_norms, os.path.join(out, "warmup.png")))
    return {"variance": variance, "runs": runs, "verdicts": verdicts, "baseline": baseline, "steps": steps,
            "warmup_steps": warmup_steps, "seeds": seeds, "held_out": held_out, "init_norms": init_norms,
            "init_states": init_states, "files": files}
