"""NAdam, RAdam, Lion and Adafactor: step for step against PyTorch and a NumPy transcription of each docstring.

Every comparison runs one optimizer over parameters of several shapes (0-d, 1-d,
2-d and 3-d) for 60 steps with a random gradient sequence fed to both sides,
either assigned by hand (``p.grad = tg.tensor(g)``) or produced by ``backward()``
of the same loss (so the gradients land in the optimizer's flat buffer and the
one-kernel fast path runs). Parameters are compared after every step. Lion has
no PyTorch counterpart: it is checked against the paper's pseudocode and the
behaviour that defines it (every coordinate moves by exactly lr).
"""

from __future__ import annotations

import doctest
import itertools
import re

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import optim
from tinygrad_edu.optim import adafactor, lion, nadam, radam

try:
    from rule_reference import rule_reference
except ImportError:  # imported as a package (tests.optim)
    from tests.optim.rule_reference import rule_reference

SHAPES = [(), (3,), (4, 5), (2, 3, 4)]
STEPS = 60
TOL = {np.float64: dict(rtol=1e-12, atol=1e-13), np.float32: dict(rtol=1e-5, atol=1e-6)}


def assert_close(actual, desired, dtype, err_msg):
    """Within TOL[dtype], the absolute part scaled by the tensor's largest entry.

    An entry that crossed zero keeps the rounding errors of its past values; in
    float32 those are about 1e-7 of the tensor's scale, not of the entry itself.
    """
    tol = dict(TOL[dtype])
    tol["atol"] *= max(1.0, float(np.max(np.abs(desired), initial=0.0)))
    np.testing.assert_allclose(actual, desired, **tol, err_msg=err_msg)
DTYPES = [np.float64, np.float32]
DTYPE_IDS = ["f64", "f32"]
GRAD_MODES = ["assigned", "backward"]


# -- the NumPy transcriptions of the docstrings ------------------------------------------------------------
# Each takes the parameter, its gradient and a dict of its state (with its step count "t"), and returns the
# new parameter value. Arrays stay in the parameter's dtype (NumPy's weak Python scalars keep float32 in float32).


# -- the NumPy transcriptions of the docstrings: each optimizer's own readable rule (cls.rule) ---------------

nadam_reference = rule_reference(optim.NAdam)
radam_reference = rule_reference(optim.RAdam)
lion_reference = rule_reference(optim.Lion)
adafactor_reference = rule_reference(optim.Adafactor)


def run_lockstep(tg_cls, kwargs, dtype, grad_mode="assigned", *, torch=None, reference=None, seed=0, steps=STEPS,
                 shapes=SHAPES, groups=None, missing=()):
    """Step tinygrad_edu, and PyTorch and/or a NumPy reference, on the same gradients; compare after every step.

    ``groups``: ``[(indices, overrides), ...]`` builds one parameter group per entry on every side.
    ``missing``: ``(step, index)`` pairs where that parameter has no gradient (assigned mode only).
    """
    rng = np.random.default_rng(seed)
    init = [np.asarray(rng.standard_normal(shape), dtype=dtype) for shape in shapes]
    params = [tg.tensor(v.copy(), requires_grad=True, dtype=dtype) for v in init]
    group_list = groups if groups is not None else [(list(range(len(shapes))), {})]
    hyper = [None] * len(shapes)
    for indices, overrides in group_list:
        for i in indices:
            hyper[i] = {**kwargs, **overrides}

    def grouped(ps):
        return [{"params": [ps[i] for i in indices], **overrides} for indices, overrides in group_list]

    opt = tg_cls(grouped(params), **kwargs)
    tol = TOL[dtype]
    if torch is not None:
        # NAdam keeps mu_product in torch's default dtype, tinygrad_edu in the parameters' dtype: make them agree.
        old_default = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64 if dtype == np.float64 else torch.float32)
        torch_params = [torch.tensor(v.copy(), requires_grad=True) for v in init]
        torch_opt = getattr(torch.optim, tg_cls.__name__)(grouped(torch_params), **kwargs)
    ref_values = [v.copy() for v in init]
    ref_states = [{} for _ in init]
    try:
        for step in range(steps):
            if grad_mode == "assigned":
                grads = [None if (step, i) in missing else np.asarray(rng.standard_normal(shape), dtype=dtype)
                         for i, shape in enumerate(shapes)]
                for p, g in zip(params, grads):
                    p.grad = None if g is None else tg.tensor(g, dtype=dtype)
                if torch is not None:
                    for p, g in zip(torch_params, grads):
                        p.grad = None if g is None else torch.tensor(g)
            else:
                # loss = sum(a * p * p + b * p), a > 0 and b fresh random arrays: a gradient 2 a p + b that depends
                # on p (a convex loss, so float32 rounding differences are not amplified).
                coeffs = [(np.asarray(rng.uniform(0.5, 1.5, s), dtype=dtype),
                           np.asarray(rng.standard_normal(s), dtype=dtype)) for s in shapes]
                opt.zero_grad()
                loss = sum((tg.tensor(a, dtype=dtype) * p * p).sum() + (tg.tensor(b, dtype=dtype) * p).sum()
                           for p, (a, b) in zip(params, coeffs))
                loss.backward()
                grads = [p.grad.numpy().copy() for p in params]
                if torch is not None:
                    torch_opt.zero_grad()
                    torch_loss = sum((torch.tensor(a) * p * p).sum() + (torch.tensor(b) * p).sum()
                                     for p, (a, b) in zip(torch_params, coeffs))
                    torch_loss.backward()
                    for p, tp in zip(params, torch_params):
                        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), **tol)
            opt.step()
            for i, p in enumerate(params):
                assert p.numpy().dtype == dtype and p.numpy().shape == shapes[i]
            if torch is not None:
                torch_opt.step()
                for i, (p, tp) in enumerate(zip(params, torch_params)):
                    assert_close(p.numpy(), tp.detach().numpy(), dtype,
                                 f"step {step + 1}, parameter {i} {shapes[i]} vs torch")
            if reference is not None:
                for i, p in enumerate(params):
                    if grads[i] is not None:
                        ref_values[i] = np.asarray(reference(ref_values[i], grads[i], ref_states[i], **hyper[i]),
                                                   dtype=dtype)
                    assert_close(p.numpy(), ref_values[i], dtype,
                                 f"step {step + 1}, parameter {i} {shapes[i]} vs the NumPy transcription")
        if torch is not None:
            for p, tp in zip(params, torch_params):  # the same step counts, the same lazily created state
                assert (p in opt.state) == (tp in torch_opt.state)
                if p in opt.state:
                    assert opt.state[p]["step"] == torch_opt.state[tp]["step"].item()
                    assert set(opt.state[p]) == set(torch_opt.state[tp])
    finally:
        if torch is not None:
            torch.set_default_dtype(old_default)
    return opt, params


def kwargs_id(kwargs):
    return ",".join(f"{k}={v}" for k, v in kwargs.items())


# -- NAdam and RAdam ----------------------------------------------------------------------------------------------

ADAM_LIKE_KWARGS = [dict(lr=0.01, weight_decay=weight_decay, decoupled_weight_decay=decoupled, maximize=maximize)
                    for weight_decay, decoupled, maximize
                    in itertools.product((0.0, 0.1), (False, True), (False, True))]


@pytest.mark.parametrize("grad_mode", GRAD_MODES)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("kwargs", ADAM_LIKE_KWARGS, ids=kwargs_id)
def test_nadam_matches_torch_and_numpy(torch, kwargs, dtype, grad_mode):
    run_lockstep(optim.NAdam, kwargs, dtype, grad_mode, torch=torch, reference=nadam_reference)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_nadam_other_hyperparameters_match_torch(torch, dtype):
    kwargs = dict(lr=0.03, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05, momentum_decay=0.05)
    run_lockstep(optim.NAdam, kwargs, dtype, torch=torch, reference=nadam_reference, seed=3)


def test_nadam_mu_product_is_the_product_of_the_momentum_factors():
    w = tg.tensor(np.ones(3), requires_grad=True, dtype=np.float64)
    opt = optim.NAdam([w], betas=(0.9, 0.999), momentum_decay=4e-3)
    for _ in range(5):
        w.grad = tg.tensor(np.ones(3), dtype=np.float64)
        opt.step()
    expected = np.prod([0.9 * (1 - 0.5 * 0.96 ** (t * 4e-3)) for t in range(1, 6)])
    assert opt.state[w]["mu_product"].shape == ()
    assert float(opt.state[w]["mu_product"]) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("grad_mode", GRAD_MODES)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("kwargs", ADAM_LIKE_KWARGS, ids=kwargs_id)
def test_radam_matches_torch_and_numpy(torch, kwargs, dtype, grad_mode):
    run_lockstep(optim.RAdam, kwargs, dtype, grad_mode, torch=torch, reference=radam_reference)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("betas", [(0.9, 0.9), (0.5, 0.5)], ids=["rho_inf=19", "rho_inf=3,never-rectified"])
def test_radam_other_betas_match_torch(torch, betas, dtype):
    run_lockstep(optim.RAdam, dict(lr=0.02, betas=betas, eps=1e-6), dtype, torch=torch, reference=radam_reference,
                 seed=4)


def test_radam_takes_plain_momentum_steps_until_rho_exceeds_5():
    # With beta2 = 0.999, rho_t = 1, 2.0, 3.0, 4.0, 5.0, 5.99...: steps 1-5 are theta -= lr m_hat, whatever v is.
    rng = np.random.default_rng(5)
    w = tg.tensor(rng.standard_normal(4), requires_grad=True, dtype=np.float64)
    opt = optim.RAdam([w], lr=0.1, betas=(0.9, 0.999))
    m = np.zeros(4)
    for t in range(1, 7):
        g = rng.standard_normal(4) * 10.0 ** t  # huge gradients: an adaptive step would not care, these steps do
        before = w.numpy().copy()
        w.grad = tg.tensor(g, dtype=np.float64)
        opt.step()
        m = 0.9 * m + 0.1 * g
        plain = before - 0.1 * m / (1 - 0.9**t)
        if t <= 5:
            np.testing.assert_allclose(w.numpy(), plain, rtol=1e-13)
        else:
            assert np.all(np.abs(w.numpy() - before) < 0.1)  # adaptive: steps of about lr, whatever the scale


# -- Lion ---------------------------------------------------------------------------------------------------------

LION_KWARGS = [dict(lr=0.01, weight_decay=weight_decay, maximize=maximize)
               for weight_decay, maximize in itertools.product((0.0, 0.1), (False, True))]


@pytest.mark.parametrize("grad_mode", GRAD_MODES)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("kwargs", LION_KWARGS, ids=kwargs_id)
def test_lion_matches_the_papers_pseudocode(kwargs, dtype, grad_mode):
    run_lockstep(optim.Lion, kwargs, dtype, grad_mode, reference=lion_reference)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_lion_other_betas_match_the_papers_pseudocode(dtype):
    run_lockstep(optim.Lion, dict(lr=0.003, betas=(0.95, 0.98), weight_decay=1.0), dtype, reference=lion_reference,
                 seed=6)


@pytest.mark.parametrize("maximize", [False, True])
def test_lion_moves_every_coordinate_by_exactly_lr(maximize):
    rng = np.random.default_rng(7)
    w = tg.tensor(rng.standard_normal((5, 7)), requires_grad=True, dtype=np.float64)
    opt = optim.Lion([w], lr=0.01, maximize=maximize)
    for step in range(STEPS):
        before = w.numpy().copy()
        g = rng.standard_normal((5, 7))
        w.grad = tg.tensor(g, dtype=np.float64)
        opt.step()
        delta = w.numpy() - before
        np.testing.assert_allclose(np.abs(delta), 0.01, rtol=1e-12)  # up to the rounding of theta - lr
        if step == 0:  # m_0 = 0: the first step follows the sign of the gradient itself
            np.testing.assert_array_equal(np.sign(delta), np.sign(g) if maximize else -np.sign(g))


def test_lion_sign_of_zero_is_zero():
    w = tg.tensor([1.0, 2.0, 3.0], requires_grad=True, dtype=np.float64)
    opt = optim.Lion([w], lr=0.1)
    w.grad = tg.tensor([0.0, 1.0, -1.0], dtype=np.float64)
    opt.step()  # c = 0.1 g: sign(0) = 0 leaves the first coordinate where it was
    np.testing.assert_array_equal(w.numpy(), [1.0, 2.0 - 0.1, 3.0 + 0.1])
    np.testing.assert_array_equal(opt.state[w]["exp_avg"], (1 - 0.99) * np.array([0.0, 1.0, -1.0]))  # m = (1 - beta2) g
    decayed = tg.tensor([2.0], requires_grad=True, dtype=np.float64)
    opt = optim.Lion([decayed], lr=0.1, weight_decay=0.5)
    decayed.grad = tg.tensor([0.0], dtype=np.float64)
    opt.step()  # no sign step, but the decoupled decay still shrinks theta
    assert decayed.item() == 2.0 * (1 - 0.1 * 0.5)


# -- Adafactor ----------------------------------------------------------------------------------------------------

ADAFACTOR_KWARGS = [dict(lr=lr, weight_decay=weight_decay, maximize=maximize)
                    for lr, weight_decay, maximize in itertools.product((1e-2, 0.5), (0.0, 0.1), (False, True))]


@pytest.mark.parametrize("grad_mode", GRAD_MODES)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("kwargs", ADAFACTOR_KWARGS, ids=kwargs_id)
def test_adafactor_matches_torch_and_numpy(torch, kwargs, dtype, grad_mode):
    run_lockstep(optim.Adafactor, kwargs, dtype, grad_mode, torch=torch, reference=adafactor_reference)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("kwargs", [dict(lr=0.3, beta2_decay=-0.5, eps=(1e-10, 1e-2), d=2.0),
                                    dict(lr=0.1, beta2_decay=0.0, eps=(1e-3, 0.0), d=1.5, weight_decay=0.3)],
                         ids=["decay-0.5,d=2", "decay0,eps1=1e-3,eps2=0"])
def test_adafactor_other_hyperparameters_match_torch(torch, kwargs, dtype):
    shapes = [(), (1,), (6,), (1, 4), (5, 1), (3, 7), (2, 2, 3, 5)]
    run_lockstep(optim.Adafactor, kwargs, dtype, torch=torch, reference=adafactor_reference, seed=8, shapes=shapes)


def test_adafactor_state_is_factored_for_matrices_only():
    params = [tg.zeros(shape, requires_grad=True, dtype=np.float64) for shape in SHAPES]
    opt = optim.Adafactor(params)
    for p in params:
        p.grad = tg.ones(p.shape, dtype=np.float64)
    opt.step()
    shapes = [{k: v.shape for k, v in opt.state[p].items() if k != "step"} for p in params]
    assert shapes == [{"variance": ()}, {"variance": (3,)}, {"row_var": (4, 1), "col_var": (1, 5)},
                      {"row_var": (2, 3, 1), "col_var": (2, 1, 4)}]


def test_adafactor_moves_weights_that_start_at_zero_by_eps2():
    # RMS(theta) = 0, so alpha_1 = eps2 * rho_1 = 1e-3 * 1e-2; V_1 = g^2, U_1 = sign(g), RMS(U_1) = 1: no clipping.
    w = tg.zeros(3, requires_grad=True, dtype=np.float64)
    opt = optim.Adafactor([w], lr=1e-2)
    w.grad = tg.tensor([2.0, -3.0, 0.5], dtype=np.float64)
    opt.step()
    np.testing.assert_allclose(w.numpy(), [-1e-5, 1e-5, -1e-5], rtol=1e-12)


@pytest.mark.parametrize("d", [1.0, 1.2, 2.0])
def test_adafactor_clips_updates_whose_rms_exceeds_d(d):
    # Step 1 sees tiny gradients, step 2 large ones: V_2 = beta2_2 V_1 + (1 - beta2_2) g^2 is below g^2, so
    # U_2 = g / sqrt(V_2) = 1.32 in every coordinate, and d = 1 or 1.2 clips it to RMS(U_hat) = d.
    w = tg.tensor(np.full(4, 2.0), requires_grad=True, dtype=np.float64)
    opt = optim.Adafactor([w], lr=0.1, d=d)
    w.grad = tg.tensor(np.full(4, 1e-3), dtype=np.float64)
    opt.step()  # V_1 = g^2, U_1 = 1: theta_1 = 2 - alpha_1 = 2 - RMS(2) * 0.1
    np.testing.assert_allclose(w.numpy(), 1.8, rtol=1e-15)
    w.grad = tg.tensor(np.ones(4), dtype=np.float64)
    opt.step()
    beta2_2 = 1 - 2.0**-0.8
    u = 1 / np.sqrt(beta2_2 * 1e-6 + (1 - beta2_2) * 1.0)
    assert u == pytest.approx(1.3196, abs=1e-4)
    alpha_2 = 1.8 * 0.1  # RMS(theta_1) * min(lr, 1 / sqrt(2))
    np.testing.assert_allclose(w.numpy(), 1.8 - alpha_2 * min(u, d), rtol=1e-14)


# -- what every optimizer must do ---------------------------------------------------------------------------------

ALL = [
    (optim.NAdam, dict(lr=0.01, weight_decay=0.1), nadam_reference, True),
    (optim.RAdam, dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True), radam_reference, True),
    (optim.Lion, dict(lr=0.01, weight_decay=0.1), lion_reference, False),
    (optim.Adafactor, dict(lr=0.1, weight_decay=0.1), adafactor_reference, True),
]
ALL_IDS = ["NAdam", "RAdam", "Lion", "Adafactor"]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("cls,kwargs,reference,in_torch", ALL, ids=ALL_IDS)
def test_a_parameter_without_gradient_is_skipped(torch, cls, kwargs, reference, in_torch, dtype):
    # Parameter 1 misses steps 3, 4 and 10; parameter 3 gets its first gradient at step 6 (its state starts then);
    # parameter 0 misses step 0, so the first step already takes the general path.
    missing = {(3, 1), (4, 1), (10, 1), (0, 0)} | {(k, 3) for k in range(6)}
    opt, params = run_lockstep(cls, kwargs, dtype, torch=torch if in_torch else None, reference=reference,
                               missing=missing, steps=20, seed=9)
    assert [opt.state[p]["step"] for p in params] == [19.0, 17.0, 20.0, 14.0]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("cls,kwargs,reference,in_torch", ALL, ids=ALL_IDS)
def test_two_parameter_groups(torch, cls, kwargs, reference, in_torch, dtype):
    # Adafactor: one group of matrices only and one of vectors only (buffers that one group lacks).
    groups = [([2, 3], {}), ([0, 1], {"lr": 0.05, "weight_decay": 0.0, "maximize": True})]
    opt, _ = run_lockstep(cls, kwargs, dtype, torch=torch if in_torch else None, reference=reference, groups=groups,
                          seed=10)
    assert [g["lr"] for g in opt.param_groups] == [kwargs["lr"], 0.05]


def test_editing_the_learning_rate_between_steps_takes_effect():
    w = tg.tensor([1.0, -1.0], requires_grad=True, dtype=np.float64)
    opt = optim.Lion([w], lr=0.1)
    for lr in (0.1, 0.01):
        opt.param_groups[0]["lr"] = lr
        before = w.numpy().copy()
        w.grad = tg.tensor([1.0, -1.0], dtype=np.float64)
        opt.step()
        np.testing.assert_allclose(before - w.numpy(), [lr, -lr], rtol=1e-12)


def parabola_descent(opt_cls, kwargs, steps):
    x = tg.tensor(5.0, requires_grad=True, dtype=np.float64)
    opt = opt_cls([x], **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        loss = x**2 + 2 * x + 1  # the sources' L(x) = x^2 + 2x + 1, minimum at x = -1
        loss.backward()
        opt.step()
    return x.item()


@pytest.mark.parametrize("cls,kwargs,steps,tol", [
    (optim.NAdam, dict(lr=0.1), 300, 1e-3),
    (optim.RAdam, dict(lr=0.1), 300, 1e-3),
    (optim.Lion, dict(lr=0.01), 1000, 0.02),  # it keeps stepping by lr: it can only get within a step or two
    (optim.Adafactor, dict(lr=1.0), 300, 1e-3),
], ids=ALL_IDS)
def test_converges_on_the_parabola(cls, kwargs, steps, tol):
    assert parabola_descent(cls, kwargs, steps) == pytest.approx(-1.0, abs=tol)


def rosenbrock_descent(opt_cls, kwargs, steps):
    p = tg.tensor([-1.5, 2.0], requires_grad=True, dtype=np.float64)
    opt = opt_cls([p], **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        x, y = p[0], p[1]
        loss = (1 - x) ** 2 + 100 * (y - x**2) ** 2  # a curved valley, minimum at (1, 1)
        loss.backward()
        opt.step()
    return p.numpy()


@pytest.mark.parametrize("cls,kwargs,steps", [
    (optim.NAdam, dict(lr=0.02), 3000),
    (optim.RAdam, dict(lr=0.01, betas=(0.9, 0.99)), 3000),
    (optim.Lion, dict(lr=1e-3), 4000),
    (optim.Adafactor, dict(lr=1.0), 8000),  # no momentum and rho_t = 1 / sqrt(t): slow in the valley
], ids=ALL_IDS)
def test_converges_on_rosenbrock(cls, kwargs, steps):
    start = np.array([-1.5, 2.0])
    end = rosenbrock_descent(cls, kwargs, steps)
    assert np.all(np.isfinite(end))
    assert np.linalg.norm(start - 1.0) > 2.5 and np.linalg.norm(end - 1.0) < 0.05


@pytest.mark.parametrize("cls,kwargs,reference,in_torch", ALL, ids=ALL_IDS)
def test_checkpoint_resume_equals_an_uninterrupted_run(tmp_path, cls, kwargs, reference, in_torch):
    rng = np.random.default_rng(11)
    init = [rng.standard_normal(shape) for shape in SHAPES]
    grads = [[rng.standard_normal(shape) for shape in SHAPES] for _ in range(20)]

    def run(params, opt, steps):
        for step_grads in steps:
            for p, g in zip(params, step_grads):
                p.grad = tg.tensor(g, dtype=np.float64)
            opt.step()

    straight = [tg.tensor(v.copy(), requires_grad=True, dtype=np.float64) for v in init]
    straight_opt = cls(straight, **kwargs)
    run(straight, straight_opt, grads)

    first = [tg.tensor(v.copy(), requires_grad=True, dtype=np.float64) for v in init]
    first_opt = cls(first, **kwargs)
    run(first, first_opt, grads[:10])
    tg.save(first_opt.state_dict(), tmp_path / "optimizer.tg")
    resumed = [tg.tensor(p.numpy().copy(), requires_grad=True, dtype=np.float64) for p in first]
    resumed_opt = cls(resumed, lr=123.0)  # the hyperparameters come back from the checkpoint too
    resumed_opt.load_state_dict(tg.load(tmp_path / "optimizer.tg"))
    assert resumed_opt.param_groups[0]["lr"] == kwargs["lr"]
    run(resumed, resumed_opt, grads[10:])

    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(straight, resumed):
        assert straight_opt.state[a].keys() == resumed_opt.state[b].keys()
        for key in straight_opt.state[a]:
            np.testing.assert_array_equal(straight_opt.state[a][key], resumed_opt.state[b][key])


def test_state_nbytes():
    def nbytes(cls, shapes, dtype=np.float32, **kwargs):
        params = [tg.zeros(shape, requires_grad=True, dtype=dtype) for shape in shapes]
        opt = cls(params, **kwargs)
        for p in params:
            p.grad = tg.ones(p.shape, dtype=dtype)
        opt.step()
        return opt.state_nbytes()

    shapes = [(10, 20), (5,)]
    steps = 2 * 8  # one float64 step count per parameter
    adam = nbytes(optim.Adam, shapes)
    assert adam == 2 * 205 * 4 + steps
    assert nbytes(optim.NAdam, shapes) == 2 * 205 * 4 + 2 * 4 + steps  # two moments and one mu_product each
    assert nbytes(optim.RAdam, shapes) == adam
    assert nbytes(optim.Lion, shapes) == 205 * 4 + steps  # one momentum: half of Adam's moments
    assert nbytes(optim.Adafactor, shapes) == (10 + 20 + 5) * 4 + steps
    # The sources' memory lesson: for a 256 x 512 matrix, Adafactor keeps 256 + 512 numbers, Adam 2 * 256 * 512.
    big_adam = nbytes(optim.Adam, [(256, 512)])
    big_adafactor = nbytes(optim.Adafactor, [(256, 512)])
    assert big_adam == 2 * 256 * 512 * 4 + 8
    assert big_adafactor == (256 + 512) * 4 + 8
    assert big_adafactor < big_adam / 300


INVALID = [
    (optim.NAdam, dict(lr=-1e-3), "lr", -1e-3),
    (optim.NAdam, dict(eps=-1.0), "eps", -1.0),
    (optim.NAdam, dict(betas=(1.0, 0.999)), "betas[0]", 1.0),
    (optim.NAdam, dict(betas=(0.9, -0.1)), "betas[1]", -0.1),
    (optim.NAdam, dict(weight_decay=-0.1), "weight_decay", -0.1),
    (optim.NAdam, dict(momentum_decay=-4e-3), "momentum_decay", -4e-3),
    (optim.RAdam, dict(lr=float("nan")), "lr", float("nan")),
    (optim.RAdam, dict(eps=-1e-8), "eps", -1e-8),
    (optim.RAdam, dict(betas=(0.9, 1.0)), "betas[1]", 1.0),
    (optim.RAdam, dict(weight_decay=-1), "weight_decay", -1),
    (optim.Lion, dict(lr=-1e-4), "lr", -1e-4),
    (optim.Lion, dict(betas=(-0.5, 0.99)), "betas[0]", -0.5),
    (optim.Lion, dict(betas=(0.9, 1.5)), "betas[1]", 1.5),
    (optim.Lion, dict(weight_decay=-0.1), "weight_decay", -0.1),
    (optim.Adafactor, dict(lr=-0.01), "lr", -0.01),
    (optim.Adafactor, dict(beta2_decay=0.5), "beta2_decay", 0.5),
    (optim.Adafactor, dict(eps=(-1e-30, 1e-3)), "eps[0]", -1e-30),
    (optim.Adafactor, dict(eps=(None, -1e-3)), "eps[1]", -1e-3),
    (optim.Adafactor, dict(eps=1e-3), "eps", 1e-3),
    (optim.Adafactor, dict(d=0.5), "d", 0.5),
    (optim.Adafactor, dict(weight_decay=-0.1), "weight_decay", -0.1),
]


@pytest.mark.parametrize("cls,kwargs,name,value", INVALID,
                         ids=[f"{c.__name__}-{n}={v}" for c, _, n, v in INVALID])
def test_invalid_hyperparameters_raise_naming_them(cls, kwargs, name, value):
    w = tg.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match=re.escape(f"Invalid {name} value: {value!r}")):
        cls([w], **kwargs)


def test_invalid_hyperparameter_set_between_steps_is_refused_before_anything_changes():
    w = tg.tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
    opt = optim.Adafactor([w])
    w.grad = tg.ones(2, dtype=np.float64)
    opt.param_groups[0]["beta2_decay"] = 0.1
    with pytest.raises(ValueError, match="beta2_decay"):
        opt.step()
    np.testing.assert_array_equal(w.numpy(), [1.0, 2.0])


def test_invalid_hyperparameters_match_torchs_refusals(torch):
    w, q = tg.zeros(3, requires_grad=True), torch.zeros(3, requires_grad=True)
    for cls, kwargs, _, _ in INVALID:
        if cls is optim.Lion or "eps" in kwargs and not isinstance(kwargs["eps"], tuple) and cls is optim.Adafactor:
            continue
        with pytest.raises(ValueError):
            getattr(torch.optim, cls.__name__)([q], **kwargs)
        with pytest.raises(ValueError):
            cls([w], **kwargs)


@pytest.mark.parametrize("module", [nadam, radam, lion, adafactor], ids=ALL_IDS)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
