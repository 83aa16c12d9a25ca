"""What a `tg.train.Inspector` costs: whole training steps without one, recording every 10 steps, and every step.

Run:  python benchmarks/inspector.py [--rounds 7] [--steps 40] [--only makemore_mlp deep_bn cnn_mnist ...]

A step is zero_grad, forward, cross-entropy, backward and an AdamW step (the
model zoo's step, `benchmarks/zoo.py`), with the Inspector's ``before_step()``
and ``after_step()`` around the optimizer step and its forward hooks attached
(``attach()``), default layers (every module with parameters and every
activation). The three contenders are three copies of the same seeded model;
they run in groups of ten steps each (one of which ``every=10`` records),
interleaved step by step in an order that alternates between groups, and each
group gives each contender's time against the one without an Inspector
(``--rounds`` × ``--steps`` / 10 groups). The medians of those ratios are
printed as overheads, against the target: at most 15 % of a step when
recording every 10 steps.

These machines are shared and noisy: only times taken seconds apart compare.
"""

from __future__ import annotations

import argparse
import statistics
import time

from zoo import MODELS as ZOO
from zoo import build  # benchmarks/zoo.py: the model zoo's models, seeded

import tinygrad_edu as tg

MODELS = ["mlp_moons", "makemore_mlp", "deep_bn"]
CONTENDERS = ["none", "every=10", "every=1"]
TARGET = 0.15  # every=10 may add at most this fraction to a step


def contender(name: str, every: int | None):
    """A step function for a fresh copy of ``name``, with an Inspector recording every ``every`` steps (or none)."""
    model, x, y = build(tg, name)
    optimizer = tg.optim.AdamW(model.parameters(), lr=1e-3)
    criterion = tg.nn.CrossEntropyLoss()
    insp = tg.train.Inspector(model, every=every).attach() if every is not None else None

    def step() -> None:
        optimizer.zero_grad()
        logits = model(x)
        loss = criterion(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        loss.backward()
        if insp is not None:
            insp.before_step()
        optimizer.step()
        if insp is not None:
            insp.after_step()

    return step, insp


def measure(name: str, rounds: int, steps: int) -> dict:
    contenders = {}
    for label in CONTENDERS:
        every = None if label == "none" else int(label.split("=")[1])
        contenders[label] = contender(name, every)
    for step, _ in contenders.values():  # warm up: first calls, caches, the optimizer's state
        for _ in range(10):
            step()
    ratios: dict[str, list[float]] = {label: [] for label in CONTENDERS[1:]}
    base_times = []
    clock = time.perf_counter
    for group in range(rounds * steps // 10):
        # Ten steps of each (one recorded by every=10), interleaved step by step in an order that alternates:
        # a slow moment of this shared machine falls on every contender alike, and the median over the
        # groups drops the groups it hit unevenly.
        order = CONTENDERS if group % 2 == 0 else CONTENDERS[::-1]
        spent = dict.fromkeys(CONTENDERS, 0.0)
        for _ in range(10):
            for label in order:
                start = clock()
                contenders[label][0]()
                spent[label] += clock() - start
        base_times.append(spent["none"] / 10)
        for label in CONTENDERS[1:]:
            ratios[label].append(spent[label] / spent["none"])
    recorded = contenders["every=1"][1]
    return {"model": name, "step_ms": 1e3 * statistics.median(base_times),
            "overhead_every10": statistics.median(ratios["every=10"]) - 1,
            "overhead_every1": statistics.median(ratios["every=1"]) - 1,
            "layers": len(recorded.layers), "params": len(recorded.params)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=40, help="steps per timed block (a multiple of 10)")
    parser.add_argument("--only", nargs="*", default=MODELS, choices=ZOO, help=f"default: {' '.join(MODELS)}")
    args = parser.parse_args()
    if args.steps % 10:
        parser.error("--steps must be a multiple of 10, so every=10 records the same share of every block")
    print(f"Inspector overhead per training step (AdamW, float32; medians over {args.rounds * args.steps // 10} "
          f"interleaved groups of 10 steps); target: every=10 adds at most {TARGET:.0%}")
    print(f"{'model':<14}{'layers':>7}{'params':>7}{'step, none':>12}{'every=10':>10}{'every=1':>10}  verdict")
    for name in args.only:
        row = measure(name, args.rounds, args.steps)
        verdict = "ok" if row["overhead_every10"] <= TARGET else "over the target"
        print(f"{name:<14}{row['layers']:>7}{row['params']:>7}{row['step_ms']:>9.3f} ms"
              f"{row['overhead_every10']:>+10.1%}{row['overhead_every1']:>+10.1%}  {verdict}")


if __name__ == "__main__":
    main()
