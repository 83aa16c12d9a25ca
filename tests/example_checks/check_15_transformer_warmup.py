"""Example 15: Adam's adaptive step has a huge (at t = 1, 2 infinite) variance at first; a small encoder trains
with or without warmup.

References, independent of the library and of the demo's code:
- the exact Var[1 / sqrt(v̂_t)] for g_t ~ N(0, 1), by quadrature (scipy): v̂_t = sum_i w_i g_i^2 with
  w_i = (1 - beta2) beta2^(t - i) / (1 - beta2^t), and E[X^-s] = 1/Gamma(s) int_0^inf u^(s-1) E[exp(-u X)] du
  with E[exp(-u X)] = prod_i (1 + 2 w_i u)^(-1/2); the integral diverges for t = 1, 2 (checked too);
- P(1/|g| > y) = erf(1 / (y sqrt 2)) for the t = 1 tail, within binomial sampling error;
- RAdam's rho_t and its variance formula written again with scipy.special.gammaln;
- the warmup rates against PyTorch's own ``LinearLR``;
- every trained model's held-out loss recomputed in PyTorch (``torch.nn.TransformerEncoder`` with the
  same ``norm_first``, loading the run's weights), and the position-only baseline estimated by counting
  sorted random sequences;
- the per-layer gradient norms at initialisation (2 and 6 layers) recomputed in PyTorch from the same
  weights and batch.
"""

from __future__ import annotations

import math

import numpy as np

FIGURES = ["warmup.png"]
BETA2 = 0.999


def exact_variance(t: int, beta2: float = BETA2) -> float:
    """Var[v̂_t^(-1/2)] by quadrature; ``inf`` where E[1 / v̂_t] diverges (t = 1, 2)."""
    from scipy.integrate import quad

    i = np.arange(1, t + 1)
    w = (1 - beta2) * beta2 ** (t - i) / (1 - beta2**t)

    def laplace(u):
        return float(np.prod((1 + 2 * w * u) ** -0.5))

    if t <= 2:          # the integrand of E[1/X] decays like u^(-t/2): not integrable
        return math.inf
    inverse, _ = quad(laplace, 0, np.inf, limit=400, epsabs=0, epsrel=1e-10)
    # E[X^(-1/2)] = 1/Gamma(1/2) int u^(-1/2) L(u) du = (2 / sqrt(pi)) int L(r^2) dr  (u = r^2)
    half, _ = quad(lambda r: laplace(r * r), 0, np.inf, limit=400, epsabs=0, epsrel=1e-10)
    return inverse - (2 / math.sqrt(math.pi) * half) ** 2


def _torch_sorter(norm_first, num_layers=2):
    import torch

    class Sorter(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.tokens = torch.nn.Embedding(10, 32)
            self.positions = torch.nn.Embedding(8, 32)
            layer = torch.nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, dropout=0.0, batch_first=True,
                                                     norm_first=norm_first)
            self.encoder = torch.nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False,
                                                       norm=torch.nn.LayerNorm(32) if norm_first else None)
            self.head = torch.nn.Linear(32, 10)

        def forward(self, digits):
            return self.head(self.encoder(self.tokens(digits) + self.positions(torch.arange(8))))

    return Sorter()


def _torch_loss(state_dict, norm_first, x, y):
    import torch

    model = _torch_sorter(norm_first)
    model.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in state_dict.items()})
    model.eval()
    with torch.no_grad():
        logits = model(torch.tensor(x))
        return torch.nn.functional.cross_entropy(logits.reshape(-1, 10), torch.tensor(y).reshape(-1)).item()


def _torch_init_norms(state, norm_first, num_layers):
    import torch

    model = _torch_sorter(norm_first, num_layers)
    model.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in state["state_dict"].items()})
    logits = model(torch.tensor(state["x"]))
    torch.nn.functional.cross_entropy(logits.reshape(-1, 10), torch.tensor(state["y"]).reshape(-1)).backward()
    return np.array([math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in layer.parameters()))
                     for layer in model.encoder.layers])


def check(r):
    import torch
    from scipy.special import gammaln

    variance = r["variance"]
    simulated, runs = variance["simulated"], variance["runs"]

    # 1. The simulation against the exact variance: infinite at t = 1, 2, finite and matched from t = 5 on
    #    (at t = 3, 4 psi's fourth moment is infinite, so the sample variance converges too slowly to compare).
    assert exact_variance(1) == exact_variance(2) == math.inf
    assert simulated[0] > 1e3 * simulated[2] and simulated[1] > 5 * simulated[2]
    exact = np.array([exact_variance(t) for t in range(3, len(simulated) + 1)])
    assert np.all(np.diff(exact) < 0) and abs(exact[0] - 1.09) < 0.01          # t = 3: 1.090
    np.testing.assert_allclose(simulated[4:], exact[2:], rtol=0.08)
    np.testing.assert_allclose(simulated[-10:], exact[-10:], rtol=0.03)
    # The t = 1 sample variance is not converging: with 100 times the runs it is far larger.
    assert variance["by_runs"][1][-1] > 10 * variance["by_runs"][1][0]
    # The t = 1 tail: P(psi_1 > y) = erf(1/(y sqrt 2)), within 5 binomial standard errors.
    for y, measured in zip(variance["tail_points"], variance["t1_tail"]):
        p = math.erf(1 / (y * math.sqrt(2)))
        assert abs(measured - p) < 5 * math.sqrt(p * (1 - p) / runs) + 1e-12, (y, measured, p)

    # 2. RAdam's closed form (rho_t, then the scaled-inverse-chi-square variance) written again.
    t = np.arange(1, len(simulated) + 1)
    rho = (2 / (1 - BETA2) - 1) - 2 * t * BETA2**t / (1 - BETA2**t)
    assert abs(rho[0] - 1) < 1e-9 and rho[1] < 2 < rho[2]
    for k in range(2, len(t)):
        mean = math.sqrt(rho[k] / 2) * math.exp(gammaln((rho[k] - 1) / 2) - gammaln(rho[k] / 2))
        assert abs(variance["radam"][k] - (rho[k] / (rho[k] - 2) - mean**2)) < 1e-7 * variance["radam"][k]
    assert np.all(np.isinf(variance["radam"][:2]))
    # ... and it is close to the exact variance (within 3 % from t = 3).
    np.testing.assert_allclose(variance["radam"][2:], exact, rtol=0.03)

    # ... and the two ways of taming the first steps: linear warmup scales psi_t by eta_t / eta (PyTorch's
    # LinearLR factors, as in the training runs); RAdam scales it by r_t from rho_t > 5 on, which holds the
    # variance at or below the variance at rho_inf (its target, approached from below: r_t is derived from a
    # first-order approximation of Var[psi_t]).
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=1.0)
    sched = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / r["warmup_steps"], total_iters=r["warmup_steps"])
    factors = []
    for _ in range(len(simulated)):
        factors.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    np.testing.assert_allclose(variance["with_warmup"], np.square(factors) * simulated, rtol=1e-12)
    rho_inf = 2 / (1 - BETA2) - 1
    r_t = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho), where=rho > 4,
                  out=np.full_like(rho, np.nan))
    assert np.all(np.isnan(variance["rectified"][:5])) and rho[4] <= 5 < rho[5]
    np.testing.assert_allclose(variance["rectified"][5:], r_t[5:] ** 2 * exact[3:], rtol=0.08)
    mean_inf = math.sqrt(rho_inf / 2) * math.exp(gammaln((rho_inf - 1) / 2) - gammaln(rho_inf / 2))
    limit = rho_inf / (rho_inf - 2) - mean_inf**2
    assert abs(variance["limit"] - limit) < 1e-6 * limit and abs(limit - 1 / (2 * rho_inf)) < 0.01 * limit
    assert np.all(variance["rectified"][5:] < 1.05 * limit) and variance["rectified"][-1] > 0.9 * limit

    # 3. The warmup schedule is PyTorch's LinearLR; without warmup the rate is constant.
    steps, warmup_steps = r["steps"], r["warmup_steps"]
    for (_, warm, lr), results in r["runs"].items():
        for result in results:
            assert len(result["lr"]) == len(result["train_loss"]) == steps
            if not warm:
                np.testing.assert_allclose(result["lr"], lr, rtol=1e-12)
                continue
            p = torch.zeros(1, requires_grad=True)
            opt = torch.optim.Adam([p], lr=lr)
            sched = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / warmup_steps, total_iters=warmup_steps)
            expected = []
            for _ in range(steps):
                expected.append(opt.param_groups[0]["lr"])
                opt.step()
                sched.step()
            np.testing.assert_allclose(result["lr"], expected, rtol=1e-12)

    # 4. The final held-out losses recomputed in PyTorch from the runs' weights.
    x, y = r["held_out"]
    for (norm_first, _, _), results in r["runs"].items():
        for result in results:
            assert abs(_torch_loss(result["state_dict"], norm_first, x, y) - result["final_loss"]) < 1e-4

    # 5. The position-only baseline: the entropy of each sorted position's digit, counted on random sequences.
    rng = np.random.default_rng(123)
    sorted_digits = np.sort(rng.integers(0, 10, size=(200_000, 8)), axis=1)
    entropies = []
    for position in range(8):
        p = np.bincount(sorted_digits[:, position], minlength=10) / len(sorted_digits)
        p = p[p > 0]
        entropies.append(-(p * np.log(p)).sum())
    assert abs(np.mean(entropies) - r["baseline"]) < 0.01

    # 6. Xiong et al. at initialisation: the per-layer gradient norms (redone in PyTorch from the same weights and
    #    batch) are larger in Post-LN than in Pre-LN near the output, and the more so in the deeper stack
    #    (their analysis: a factor about sqrt(L)).
    for (norm_first, depth), norms in r["init_norms"].items():
        np.testing.assert_allclose(norms[0], _torch_init_norms(r["init_states"][(norm_first, depth)], norm_first,
                                                               depth), rtol=1e-4)
    ratio = {depth: r["init_norms"][(False, depth)][:, -1] / r["init_norms"][(True, depth)][:, -1] for depth in (2, 6)}
    assert np.all(ratio[2] > 1.2) and np.all(ratio[6] > ratio[2]), ratio

    # 7. The claim at this scale: every run trains (below the baseline, no NaN), with or without warmup, in
    #    both layouts; warmup does not improve any configuration's mean final loss.
    for (norm_first, warm, lr), results in r["runs"].items():
        for result in results:
            assert not result["diverged"] and np.all(np.isfinite(result["train_loss"]))
            assert result["final_loss"] < r["baseline"] - 0.05, (norm_first, warm, lr, result["final_loss"])
    mean = {key: np.mean([res["final_loss"] for res in results]) for key, results in r["runs"].items()}
    for (norm_first, warm, lr), loss in mean.items():
        if warm:
            assert loss > mean[(norm_first, False, lr)], (norm_first, lr, loss, mean[(norm_first, False, lr)])
