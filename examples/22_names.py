"""Names, character by character: bigram counts, then an MLP, then a GRU, each scored by its NLL (makemore's path).

What it teaches: a character-level language model is trained by gradient
descent on the average negative log-likelihood (NLL, nats per character) of
the next character. Three models of the census first names of
``tg.datasets.names()`` (5,163 names; a fixed 90 / 10 split), each seeing more
of the past:

* a bigram table (counts of each pair of characters, +1 smoothing, rows
  normalised): no training, the baseline;
* an MLP on the last three characters (Bengio et al. 2003: embeddings, a
  tanh layer), Adam;
* a GRU reading the whole name so far, Adam.

Measured (seed 0), NLL on training / held-out names, against the uniform
guess log 27 = 3.296:

=========  ======  =============  ==========
model      steps   train NLL      val NLL
=========  ======  =============  ==========
bigram     --      2.343          2.350
MLP        3,000   1.894          2.008
GRU        600     1.894          1.975
=========  ======  =============  ==========

Both trained models beat the bigram on names they never saw (with
``--quick``, 300 and 60 steps: MLP 2.215, GRU 2.302, the GRU only narrowly).
Each model then writes ten names with ``tg.multinomial`` and a seeded
``tg.Generator``. The code, readable, is in ``tinygrad_edu/demos/names.py``;
``tinygrad-edu demo names`` runs the same experiment. Needs the ``names``
extra: ``pip install "tinygrad-edu[names]"``.

Run:  python examples/22_names.py [--out names] [--quick]
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")  # figures go to files; no window opens

from tinygrad_edu.demos import names  # noqa: E402


def run(out: str, quick: bool = False, seed: int = 0) -> dict:
    """Fit the bigram table, train the MLP and the GRU, print NLLs and samples, write ``names_models.png``."""
    return names.run(out, quick=quick, seed=seed)


def check_claim(results: dict) -> None:
    """Every model beats the uniform guess; the MLP and the GRU beat the bigram on the held-out names."""
    nll, uniform = results["nll"], results["uniform_nll"]
    summary = ", ".join(f"{name} val {v['val']:.3f}" for name, v in nll.items()) + f", uniform {uniform:.3f}"
    assert all(v["val"] < uniform for v in nll.values()), f"a model no better than guessing: {summary}"
    assert nll["MLP"]["val"] < nll["bigram"]["val"], f"the MLP does not beat the bigram: {summary}"
    assert nll["GRU"]["val"] < nll["bigram"]["val"], f"the GRU does not beat the bigram: {summary}"
    assert all(s.endswith(".") for samples in results["samples"].values() for s in samples), results["samples"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="names", help="directory for the figure")
    parser.add_argument("--quick", action="store_true", help="fewer training steps (for the tests)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    results = run(args.out, args.quick, seed=args.seed)
    check_claim(results)
    nll = results["nll"]
    print(f"claim holds: val NLL bigram {nll['bigram']['val']:.3f} > MLP {nll['MLP']['val']:.3f}, "
          f"GRU {nll['GRU']['val']:.3f}; all below uniform {results['uniform_nll']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
