"""Inside training: a deep makemore MLP with and without batch normalisation, seen layer by layer.

What it teaches. The loss curve says whether a network learns; the layers'
statistics say why (or why not). This is the experiment of Karpathy's
makemore lecture on batch normalisation (part 3), drawn with
``tg.train.Inspector`` and ``tg.viz`` instead of by hand: a character-level
MLP on ``tg.datasets.names()`` (the last 3 characters, embedded in 10
dimensions, then five Linear + tanh layers of 100 units and a Linear layer
to the 27 logits), trained twice with the same SGD (rate 0.1, batches of 32,
the same batches), once as it is and once with a ``BatchNorm1d`` after
every Linear layer (between it and its tanh, and on the logits; the Linear
layers then have no bias, and the last BatchNorm's gain, not the last
weight, is scaled by 0.1). Both use
the lecture's initialisation: Kaiming with the tanh gain, std =
(5/3) / sqrt(fan_in), the last layer 0.1 times smaller.

An Inspector on each run records, every 10 steps, each tanh layer's
saturated fraction (|tanh| > 0.97, where the slope is below 0.06 and little
gradient passes), each weight's gradient and its update-to-data ratio
log10(std(step) / std(weight)). Four figures put the two runs side by side:
the tanh layers' output histograms at the end, the saturated fractions over
training, the weight-gradient histograms, and the update ratios with the band
around -3 (a step of about 1/1000 of the weight, the lecture's rule of thumb).

Measured (seed 0, 2,000 steps; ``--quick``, 300 steps, in brackets; the
quick runs of seeds 1 and 2 give the same pattern):

=================  ==========================  ==========================  ===============  =============
run                tanh layers saturated,      at the last recorded step   update-ratio     NLL train /
                   step 0 (layers 1 to 5)      (1990)                      spread (log10)   val
=================  ==========================  ==========================  ===============  =============
without BatchNorm  19.7  8.9  5.7  4.9  6.7 %  19.6 13.3 15.2 15.3 12.7 %  0.81 (1.32)      2.089 / 2.156
with BatchNorm      3.5  3.2  2.7  3.0  3.0 %   3.6  3.2  3.0  2.8  2.4 %  0.58 (0.67)      2.149 / 2.179
=================  ==========================  ==========================  ===============  =============

* With batch norm every tanh layer saturates less than every layer without
  it, at the start and at the end, as the lecture shows. With it a tanh
  receives, per unit, a batch normalised to mean 0 and variance 1 (gain 1,
  shift 0 at the start), and |tanh z| > 0.97 means |z| > 2.09: about 3.4 %
  of a normalised batch of 32 (3 % measured). Without it the first layer
  saturates most (20 %): the gain 5/3 is meant for inputs that are tanh
  outputs (std about 0.65), but the first layer's inputs are embeddings of
  std 1, so its pre-activations have std 5/3 and P(|z| > 2.09) = 21 %.
  During training the saturation of the plain network grows (to 13-15 % in
  the deeper layers); with batch norm it stays at 2-4 %.
* The update ratios (log10 of a step's size over the weight's, the mean of
  the second half of training) are closer together with batch norm: the
  spread between the Linear weights is 0.58 against 0.81. In both runs the
  outlier is the last layer (-1.6 without, -1.9 with batch norm), whose
  weight starts 10 times smaller; the hidden layers sit near -2.4, above the
  lecture's band around -3 in both runs: by the rule of thumb, rate 0.1 is on
  the high side for this network.
* The loss is **not** lower with batch norm at this budget (val 2.179
  against 2.156; after 300 steps 2.512 against 2.363): for this shallow,
  well-initialised network batch norm makes the layers' statistics healthy
  and even, not the training faster.

``check_claim`` asserts the first two points and that both runs learn (NLL
below the uniform guess log 27 = 3.296); the loss order is only reported.

Run:  python examples/23_inside_training.py [--out inside_training] [--quick]
"""

from __future__ import annotations

import argparse
import math
import os

import matplotlib

matplotlib.use("Agg")  # figures go to files; no window opens

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import tinygrad_edu as tg  # noqa: E402
from tinygrad_edu import nn, optim, viz  # noqa: E402
from tinygrad_edu.demos import names  # noqa: E402

BLOCK, EMBED, HIDDEN, DEPTH = 3, 10, 100, 5
RUNS = ("without BatchNorm", "with BatchNorm")


def makemore_mlp(batch_norm: bool) -> nn.Sequential:
    """Embedding, flatten, DEPTH x (Linear [+ BatchNorm1d] + Tanh), Linear [+ BatchNorm1d]; the lecture's init."""
    layers: list[nn.Module] = [nn.Embedding(len(names.VOCAB), EMBED), nn.Flatten()]
    width = BLOCK * EMBED
    for _ in range(DEPTH):
        linear = nn.Linear(width, HIDDEN, bias=not batch_norm)
        nn.init.kaiming_normal_(linear.weight, nonlinearity="tanh")     # std (5/3) / sqrt(fan_in)
        layers += [linear] + ([nn.BatchNorm1d(HIDDEN)] if batch_norm else []) + [nn.Tanh()]
        width = HIDDEN
    last = nn.Linear(HIDDEN, len(names.VOCAB), bias=not batch_norm)
    nn.init.normal_(last.weight, std=1 / math.sqrt(HIDDEN))
    layers.append(last)
    if batch_norm:
        norm = nn.BatchNorm1d(len(names.VOCAB))
        layers.append(norm)
        with tg.no_grad():
            norm.weight.mul_(0.1)          # a less confident start: small logits
    else:
        with tg.no_grad():
            last.weight.mul_(0.1)
    for module in layers:
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
    return nn.Sequential(*layers)


def train(model: nn.Module, data: tuple, steps: int, seed: int) -> tuple[tg.train.Inspector, list[float]]:
    """SGD (lr 0.1, batches of 32 drawn with a seeded generator), an Inspector recording every 10 steps."""
    contexts, targets = data
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    batches = tg.Generator().manual_seed(seed)
    insp = tg.train.Inspector(model, every=10)
    losses = []
    with insp:
        for _ in range(steps):
            rows = tg.randint(0, len(targets), (32,), generator=batches)
            loss = nn.functional.cross_entropy(model(contexts[rows]), targets[rows])
            optimizer.zero_grad()
            loss.backward()
            insp.before_step()
            optimizer.step()
            insp.after_step()
            losses.append(loss.item())
    return insp, losses


@tg.no_grad()
def nll(model: nn.Module, data: tuple) -> float:
    """The mean NLL per character over all of ``data``, in eval mode (BatchNorm's running statistics)."""
    model.eval()
    value = nn.functional.cross_entropy(model(data[0]), data[1]).item()
    model.train()
    return value


def tanh_layers(insp: tg.train.Inspector) -> list[str]:
    return [name for name in insp.layers if insp.kinds[name] == "tanh"]


def weight_names(insp: tg.train.Inspector) -> list[str]:
    """The Linear layers' weights (the lecture draws the 2-D weights only)."""
    return [name for name in insp.params if name.endswith("weight") and insp.kinds.get(name[:-7]) == "linear"]


def summary(insp: tg.train.Inspector) -> dict:
    """The numbers the claim is about: saturation at the first and last recorded step, update-ratio spread."""
    layers = tanh_layers(insp)
    saturated = np.array([insp.activations[name]["saturated"] for name in layers])       # (layers, steps)
    weights = weight_names(insp)
    late = slice(len(insp.steps) // 2, None)                                             # the second half
    ratios = np.array([np.nanmean(insp.update_ratios[name][late]) for name in weights])
    return {"saturated_first": saturated[:, 0], "saturated_last": saturated[:, -1],
            "ratios": ratios, "ratio_spread": float(ratios.max() - ratios.min())}


def run(out: str, quick: bool = False, seed: int = 0) -> dict:
    """Train both networks with an Inspector; print the layers' numbers; write four side-by-side figures."""
    steps = 300 if quick else 2000
    os.makedirs(out, exist_ok=True)
    words = tg.datasets.names()
    train_words, val_words = names.split_words(words)
    data = {"train": names.context_windows(train_words, BLOCK), "val": names.context_windows(val_words, BLOCK)}
    inspectors, models, losses, final, stats = {}, {}, {}, {}, {}
    for name in RUNS:
        tg.manual_seed(seed)
        model = models[name] = makemore_mlp(batch_norm=name == "with BatchNorm")
        inspectors[name], losses[name] = train(model, data["train"], steps, seed)
        final[name] = {"train": nll(model, data["train"]), "val": nll(model, data["val"])}
        stats[name] = summary(inspectors[name])
    print(f"makemore MLP, {DEPTH} tanh layers of {HIDDEN}, SGD lr 0.1, {steps} steps of 32 contexts:")
    for name in RUNS:
        s = stats[name]
        print(f"  {name:<18} tanh layers saturated at step 0: "
              + " ".join(f"{v:5.1%}" for v in s["saturated_first"])
              + f"   at step {int(inspectors[name].steps[-1])}: " + " ".join(f"{v:5.1%}" for v in s["saturated_last"]))
        print(f"  {'':<18} update ratio (log10, mean of the second half) per Linear weight: "
              + " ".join(f"{v:+.2f}" for v in s["ratios"]) + f"   spread {s['ratio_spread']:.2f}")
        print(f"  {'':<18} NLL train {final[name]['train']:.3f}, val {final[name]['val']:.3f}")
    files = draw(out, inspectors)
    return {"inspectors": inspectors, "models": models, "losses": losses, "final": final, "stats": stats,
            "val_words": val_words, "steps": steps,
            "quick": quick, "seed": seed, "files": files}


@viz.styled
def side_by_side(plot, inspectors: dict, choose) -> Figure:
    """One panel per run, ``plot(insp, ax=..., **choose(insp))`` in each, titled with the run's name."""
    fig = Figure(figsize=(20, 5.5), layout="constrained")
    shared = plot in (viz.plot_saturation, viz.plot_update_ratios)     # fractions and ratios: one y scale
    axes = fig.subplots(1, 2, sharey=shared)
    for ax, (name, insp) in zip(axes, inspectors.items()):
        plot(insp, ax=ax, **choose(insp))
        fig.suptitle(ax.get_title())          # what is drawn, above both panels; each panel says which run
        ax.set_title(name)
    return fig


def draw(out: str, inspectors: dict) -> list[str]:
    """The four pictures of the lecture, each with the two runs side by side."""
    def layers(insp):
        return {"layers": tanh_layers(insp)}

    def weights(insp):
        return {"params": weight_names(insp)}

    return [viz.save_figure(side_by_side(plot, inspectors, choose), os.path.join(out, file), dpi=80)
            for plot, file, choose in ((viz.plot_activations, "activations.png", layers),
                                       (viz.plot_saturation, "saturation.png", layers),
                                       (viz.plot_gradients, "gradients.png", weights),
                                       (viz.plot_update_ratios, "update_ratios.png", weights))]


def check_claim(results: dict) -> None:
    """Raise AssertionError (with the numbers) unless what the docstring says was measured holds."""
    stats, final = results["stats"], results["final"]
    plain, bn = stats["without BatchNorm"], stats["with BatchNorm"]
    numbers = (f"saturated at step 0: without BN {np.round(plain['saturated_first'], 3)}, with BN "
               f"{np.round(bn['saturated_first'], 3)}; at the end: {np.round(plain['saturated_last'], 3)} vs "
               f"{np.round(bn['saturated_last'], 3)}; update-ratio spread {plain['ratio_spread']:.2f} vs "
               f"{bn['ratio_spread']:.2f}; final NLL {final}")
    uniform = math.log(len(names.VOCAB))
    assert all(v["val"] < uniform for v in final.values()), f"a run did not learn: {numbers}"
    for when in ("saturated_first", "saturated_last"):
        # every tanh layer with batch norm saturates less than the least saturated layer without it
        assert bn[when].max() < plain[when].min(), f"{when}: expected BN to saturate less in every layer; {numbers}"
        assert bn[when].max() < 0.06, f"{when}: expected a few percent with BN; {numbers}"
    assert plain["saturated_first"][0] > 0.12, f"expected the first tanh layer to saturate most; {numbers}"
    assert bn["ratio_spread"] < plain["ratio_spread"], f"expected more even update ratios with BN; {numbers}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="inside_training", help="directory for the figures")
    parser.add_argument("--quick", action="store_true", help="300 steps instead of 2,000 (for the tests)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    results = run(args.out, args.quick, seed=args.seed)
    check_claim(results)
    print("claim holds: with BatchNorm every tanh layer saturates less (a few percent), and the update ratios of "
          "the Linear weights are closer together; the loss is not lower with it at this budget")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
