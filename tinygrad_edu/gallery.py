"""A browsable gallery of every example's figures: ``tinygrad-edu gallery --out DIR``.

Each numbered script of the repository's ``examples/`` folder (``NN_name.py``)
is run as its own process with ``--out DIR/NN_name --quick``; the pictures it
writes (PNG, GIF, SVG) are shown in one page, ``DIR/index.html``, under the
example's name and the first line of its docstring, with the numbers it printed
as the caption. An example that fails keeps its place in the page, with the end
of its error, and the others still run.

The examples live in the repository, not in the installed package: by default
the gallery looks for ``./examples`` (run it from the repository's root), or
takes ``examples_dir``. Nothing is imported from the scripts: each runs exactly
as a reader would run it, with matplotlib's Agg backend.

Example:
    >>> import os, tempfile
    >>> from tinygrad_edu.gallery import find_examples
    >>> folder = tempfile.mkdtemp()
    >>> for name in ("02_b.py", "01_a.py", "notes.py"):
    ...     _ = open(os.path.join(folder, name), "w").write("'''An example.'''")
    >>> [os.path.basename(path) for path in find_examples(folder)]
    ['01_a.py', '02_b.py']
"""

from __future__ import annotations

import ast
import html
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ._files import atomic_write_text

__all__ = ["build_gallery", "find_examples", "ExampleRun", "PICTURES"]

#: The file suffixes shown as pictures; anything else an example writes is listed as a link.
PICTURES = (".png", ".gif", ".svg", ".jpg", ".jpeg")

_NUMBERED = re.compile(r"^\d\d_[A-Za-z0-9_]+\.py$")


@dataclass
class ExampleRun:
    """One example as the gallery ran it."""

    name: str  #: the script's name without ``.py`` (``06_optimizer_race``)
    summary: str  #: the first line of its docstring
    caption: str  #: what it printed
    files: list[str] = field(default_factory=list)  #: what it wrote, relative to the gallery's folder
    error: str | None = None  #: the end of its error output when it failed, else None
    seconds: float = 0.0  #: how long it ran

    @property
    def pictures(self) -> list[str]:
        """The files it wrote that the page shows as pictures."""
        return [name for name in self.files if name.lower().endswith(PICTURES)]


def find_examples(examples_dir: str | os.PathLike) -> list[str]:
    """The numbered example scripts (``NN_name.py``) of a folder, in order.

    Raises:
        FileNotFoundError: if the folder does not exist or holds no numbered script; the message says
            where the gallery looked and how to point it elsewhere.
    """
    folder = os.fspath(examples_dir)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"no examples folder at {folder!r}: run from the repository's root (where "
                                f"examples/ is) or pass --examples DIR")
    scripts = sorted(name for name in os.listdir(folder) if _NUMBERED.match(name))
    if not scripts:
        raise FileNotFoundError(f"{folder!r} holds no numbered example (NN_name.py): pass --examples DIR")
    return [os.path.join(folder, name) for name in scripts]


def _summary(script: str) -> str:
    try:
        with open(script, encoding="utf-8") as handle:
            doc = ast.get_docstring(ast.parse(handle.read())) or ""
    except (OSError, SyntaxError, ValueError):
        return ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _run(script: str, out: str, quick: bool, timeout: float) -> ExampleRun:
    name = os.path.splitext(os.path.basename(script))[0]
    folder = os.path.abspath(os.path.join(out, name))
    os.makedirs(folder, exist_ok=True)
    script = os.path.abspath(script)
    command = [sys.executable, script, "--out", folder] + (["--quick"] if quick else [])
    env = dict(os.environ, MPLBACKEND="Agg")
    start = time.perf_counter()
    error = None
    try:
        # from the folder above examples/ (the repository's root), as a reader runs `python examples/NN.py`
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=os.path.dirname(os.path.dirname(script)))
        caption = done.stdout
        if done.returncode != 0:
            error = f"exit status {done.returncode}\n" + "\n".join(done.stderr.strip().splitlines()[-15:])
    except subprocess.TimeoutExpired as err:
        caption = err.stdout.decode(errors="replace") if isinstance(err.stdout, bytes) else (err.stdout or "")
        error = f"stopped after {timeout:g} s (timeout)"
    seconds = time.perf_counter() - start
    files = sorted(os.path.relpath(os.path.join(root, file), os.path.abspath(out))
                   for root, _, names in os.walk(folder) for file in names)
    return ExampleRun(name, _summary(script), caption.rstrip(), [f.replace(os.sep, "/") for f in files], error,
                      seconds)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; font-size: 18px; max-width: 1500px; margin: 0 auto; padding: 1em 2em; }}
nav li {{ margin: 0.2em 0; }}
section {{ border-top: 2px solid #ccc; margin-top: 2em; }}
figure {{ margin: 1em 0; }}
figure img {{ max-width: 100%; border: 1px solid #ddd; }}
figcaption {{ color: #555; font-size: 15px; }}
pre {{ background: #f6f6f6; padding: 0.8em; max-height: 24em; overflow: auto; font-size: 15px; }}
.failed {{ color: #b00; font-weight: bold; }}
</style></head><body>
<h1>{title}</h1>
<p>{intro}</p>
<nav><ol>
{toc}
</ol></nav>
{sections}
</body></html>
"""


def _section(run: ExampleRun) -> str:
    name = html.escape(run.name)
    parts = [f'<section id="{name}"><h2>{name}</h2>', f"<p>{html.escape(run.summary)}</p>"]
    if run.error is not None:
        parts.append(f'<p class="failed">this example failed:</p><pre>{html.escape(run.error)}</pre>')
    for picture in run.pictures:
        source = html.escape(picture, quote=True)
        parts.append(f'<figure><img src="{source}" alt="{source}" loading="lazy">'
                     f"<figcaption>{html.escape(os.path.basename(picture))}</figcaption></figure>")
    others = [f for f in run.files if f not in run.pictures]
    if others:
        links = ", ".join(f'<a href="{html.escape(f, quote=True)}">{html.escape(os.path.basename(f))}</a>'
                          for f in others)
        parts.append(f"<p>also written: {links}</p>")
    if run.caption:
        parts.append(f"<p>what it printed ({run.seconds:.0f} s):</p><pre>{html.escape(run.caption)}</pre>")
    parts.append("</section>")
    return "\n".join(parts)


def build_gallery(out: str | os.PathLike, examples_dir: str | os.PathLike = "examples", *, quick: bool = True,
                  only: Sequence[str] | None = None, timeout: float = 900.0, verbose: bool = True) -> list[ExampleRun]:
    """Run the examples and write ``out/index.html`` with every figure and the caption each printed.

    Args:
        out: the gallery's folder (made if missing); each example writes into ``out/<name>/``.
        examples_dir: the folder of numbered scripts (the repository's ``examples/``).
        quick: pass ``--quick`` to every example (the short runs the tests use).
        only: run just the examples whose name starts with one of these (``["06", "13"]``).
        timeout: seconds one example may run before it is stopped (and shown as failed).
        verbose: print one line per example as it finishes.

    Returns:
        One `ExampleRun` per example, in order; the page is at ``os.path.join(out, "index.html")``.

    Raises:
        FileNotFoundError: if ``examples_dir`` holds no numbered example.
        ValueError: if ``only`` matches no example.
    """
    scripts = find_examples(examples_dir)
    if only:
        wanted = [str(prefix) for prefix in only]
        scripts = [s for s in scripts if any(os.path.basename(s).startswith(p) for p in wanted)]
        if not scripts:
            raise ValueError(f"--only {','.join(wanted)} matches no example in {os.fspath(examples_dir)!r}")
    out = os.fspath(out)
    os.makedirs(out, exist_ok=True)
    runs = []
    for script in scripts:
        run = _run(script, out, quick, timeout)
        runs.append(run)
        if verbose:
            state = "FAILED" if run.error is not None else f"{len(run.pictures)} figure(s)"
            print(f"{run.name:<28} {state:<12} {run.seconds:6.1f} s", flush=True)
    toc = "\n".join(f'<li><a href="#{html.escape(r.name)}">{html.escape(r.name)}</a>: {html.escape(r.summary)}'
                    + (' <span class="failed">(failed)</span>' if r.error is not None else "") + "</li>"
                    for r in runs)
    mode = "with --quick (short runs)" if quick else "in full"
    page = _PAGE.format(title="tinygrad_edu: the examples' figures",
                        intro=html.escape(f"{len(runs)} examples run {mode}; under each figure, what the example "
                                          f"printed."),
                        toc=toc, sections="\n".join(_section(r) for r in runs))
    atomic_write_text(os.path.join(out, "index.html"), page, who="gallery")
    return runs
