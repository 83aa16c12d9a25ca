"""The command line: ``tinygrad-edu demo [NAME] [--out DIR]``, ``tinygrad-edu demo --list``, ``tinygrad-edu gallery``.

``tinygrad-edu grade DIR [--csv PATH] [--timeout SECONDS] [--only NAME ...]`` grades a folder of exercise
submissions (see `tinygrad_edu.exercises.grade`).

Each demo reproduces one picture of the sources, writes it to ``--out``
(``tinygrad_edu_demo/`` by default) and prints where. ``vanishing``, ``warmup``
and ``names`` measure a claim of the sources (their experiments live in
`tinygrad_edu.demos`, shared with examples 13, 15 and 22). With no name, the main
demo runs: the sources' linear regression trained and its loss curve drawn,
then SGD, Momentum and Adam on the 2-D quadratic surface.

Failures a user can cause or fix end in one line on stderr, never a
traceback: an output file that cannot be written (permission, a read-only or
full disk, a directory in its place) names the file and the reason and exits
with status 1, as does a demo whose optional dependency is missing (the line
says which extra to install); Ctrl-C says it was interrupted and exits with status 130
(128 + SIGINT, as shells report it); a closed output pipe (``| head``) ends
quietly with status 141 (128 + SIGPIPE). Files written before the failure stay
complete (every write is atomic); the one being written is left as it was.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["main", "DEMOS"]


class _OutputError(OSError):
    """A picture could not be written: ``filename`` is the file the user asked for, not a temporary one."""


_ERRNO_OF = {IsADirectoryError: errno.EISDIR, NotADirectoryError: errno.ENOTDIR, FileNotFoundError: errno.ENOENT,
             PermissionError: errno.EACCES, FileExistsError: errno.EEXIST}


def _reason(err: OSError) -> str:
    """Why an OS call failed, in the system's words (``No space left on device``)."""
    code = err.errno if isinstance(err.errno, int) else _ERRNO_OF.get(type(err))
    if code in errno.errorcode:
        return os.strerror(code)
    return str(err.strerror or err)


def _save(picture: Any, directory: str, name: str) -> str:
    """Write a Figure, or an Animation as a GIF, atomically to ``directory/name``; return the path."""
    from . import viz

    path = os.path.join(directory, name)
    try:
        if name.endswith(".gif"):
            return viz.save_gif(picture, path)
        return viz.save_figure(picture, path, dpi=110)
    except OSError as err:
        raise _OutputError(err.errno, _reason(err), path) from err


def demo_linear(out: str) -> list[str]:
    """The sources' training loop: Linear(1, 1) learns y = 3x + 1 + noise with AdamW; the loss curve."""
    import tinygrad_edu as tg
    from tinygrad_edu import nn, optim, viz

    tg.manual_seed(0)
    x, y = tg.datasets.linear(n=100, seed=0)
    model = nn.Linear(1, 1)
    optimizer = optim.AdamW(model.parameters(), lr=0.1)
    history = tg.train.fit(model, nn.MSELoss(), optimizer, (x, y), epochs=100, progress=False)
    print(f"linear regression: learned w = {model.weight.item():.3f} (true 3), "
          f"b = {model.bias.item():.3f} (true 1), final loss {history['train_loss'][-1]:.4f}")
    return [_save(viz.plot_history(history), out, "linear_regression_loss.png")]


def _surface_paths() -> tuple[Any, list[Any]]:
    from tinygrad_edu import optim, surfaces

    surface = surfaces.quadratic
    start, steps = (4.0, 4.0), 30
    paths = [
        surfaces.descend(surface, lambda p: optim.SGD(p, lr=0.1), start, steps, label="SGD (lr 0.1)"),
        surfaces.descend(surface, lambda p: optim.Momentum(p, lr=0.1, beta=0.9), start, steps,
                         label="Momentum (lr 0.1, beta 0.9)"),
        surfaces.descend(surface, lambda p: optim.Adam(p, lr=0.5), start, steps, label="Adam (lr 0.5)"),
    ]
    return surface, paths


def demo_surface(out: str) -> list[str]:
    """The sources' 2-D surface x^2 + y^2 + xy + 2x + 3y + 5 from (4, 4), 30 steps: contour and 3-D, same paths."""
    from tinygrad_edu import viz

    surface, paths = _surface_paths()
    for path in paths:
        x, y = path.points[-1]
        print(f"{path.name:<28} ends at ({x:+.3f}, {y:+.3f}), loss {path.losses[-1]:.4f} "
              f"(minimum {float(surface(*surface.minima[0]).item()):.4f})")
    return [_save(viz.plot_contour(surface, *paths), out, "quadratic_contour.png"),
            _save(viz.plot_surface_3d(surface, *paths), out, "quadratic_surface_3d.png")]


def demo_descent_1d(out: str) -> list[str]:
    """The sources' 1-D descent: x^2 + 2x + 1 from x = 5, lr 0.2, 15 steps; picture and GIF (2 frames/s)."""
    from tinygrad_edu import optim, surfaces, viz

    path = surfaces.descend(surfaces.parabola, lambda p: optim.SGD(p, lr=0.2), 5.0, 15, label="SGD (lr 0.2)")
    print(f"1-D descent: x goes 5.0 -> {path.points[-1][0]:.5f} (minimum at -1)")
    return [_save(viz.plot_path_1d(surfaces.parabola, path), out, "descent_1d.png"),
            _save(viz.animate_path(surfaces.parabola, path, fps=2), out, "descent_1d.gif")]


def demo_sgd_vs_adam(out: str) -> list[str]:
    """The sources' comparison: 200 points, Linear(1, 1), MSE, 50 full-batch epochs, SGD 0.05 vs Adam 0.01."""
    import tinygrad_edu as tg
    from tinygrad_edu import nn, optim, viz

    x, y = tg.datasets.linear(n=200, seed=0)
    runs = {}
    for name, make in (("SGD (lr 0.05)", lambda p: optim.SGD(p, lr=0.05)),
                       ("Adam (lr 0.01)", lambda p: optim.Adam(p, lr=0.01))):
        tg.manual_seed(0)
        model = nn.Linear(1, 1)
        runs[name] = tg.train.fit(model, nn.MSELoss(), make(model.parameters()), (x, y), epochs=50,
                                  progress=False)
        print(f"{name:<16} final loss {runs[name]['train_loss'][-1]:.4f}")
    return [_save(viz.compare_losses(runs), out, "sgd_vs_adam.png")]


def demo_vanishing(out: str) -> list[str]:
    """Vanishing gradients in a 20-layer net on digits: sigmoid, Xavier, ReLU + He, BatchNorm, residuals."""
    from .demos import vanishing

    return vanishing.run(out)["files"]


def demo_warmup(out: str) -> list[str]:
    """Adam's risky first steps (RAdam's variance) and Post-LN/Pre-LN encoders with and without warmup."""
    from .demos import warmup

    return warmup.run(out)["files"]


def demo_names(out: str) -> list[str]:
    """A character model of first names: bigram counts, an MLP, a GRU; their losses and sampled names."""
    from .demos import names

    return names.run(out)["files"]


DEMOS: dict[str, Callable[[str], list[str]]] = {
    "linear": demo_linear,
    "surface": demo_surface,
    "descent-1d": demo_descent_1d,
    "sgd-vs-adam": demo_sgd_vs_adam,
    "vanishing": demo_vanishing,
    "warmup": demo_warmup,
    "names": demo_names,
}
MAIN = ("linear", "surface")


def _writable_directory(path: str) -> str:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise SystemExit(f"tinygrad-edu: cannot create the output directory {path!r}: {err.strerror}") from None
    if not os.access(path, os.W_OK):
        raise SystemExit(f"tinygrad-edu: the output directory {path!r} is not writable")
    return path


@contextlib.contextmanager
def _ctrl_c_delivered() -> Iterator[None]:
    """Ctrl-C stops the command even when it lands where Python drops exceptions.

    Python raises ``KeyboardInterrupt`` wherever the main thread happens to be. Inside a ctypes callback (numba
    compiling a kernel through llvmlite, the first time a model runs) it is printed as "Exception ignored" and
    dropped, and the command ran on. Here a Ctrl-C is remembered and raised again every 0.1 s (SIGALRM) until
    it gets through; the dropped ones are not printed. Only in the main thread, with Python's own Ctrl-C
    handler in place (an embedding program's handler is left alone).
    """
    if (threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer")
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    pending = [False]
    hook = sys.unraisablehook

    def on_ctrl_c(signum: int, frame: Any) -> None:
        pending[0] = True
        signal.setitimer(signal.ITIMER_REAL, 0.1, 0.1)  # raised again until it reaches the command
        raise KeyboardInterrupt

    def on_alarm(signum: int, frame: Any) -> None:
        if pending[0]:
            raise KeyboardInterrupt

    def unraisable(report: Any) -> None:
        if not (pending[0] and isinstance(report.exc_value, KeyboardInterrupt)):
            hook(report)

    previous_alarm = signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGINT, on_ctrl_c)
    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGALRM, previous_alarm)
        sys.unraisablehook = hook


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tinygrad-edu`` command."""
    parser = argparse.ArgumentParser(prog="tinygrad-edu", description="tinygrad_edu: gradient descent, taught.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run a demo and write its pictures")
    demo.add_argument("name", nargs="?", help="which demo (default: the main demo); see --list")
    demo.add_argument("--out", default="tinygrad_edu_demo", help="directory for the pictures")
    demo.add_argument("--list", action="store_true", help="list the demos and exit")
    gallery = commands.add_parser("gallery", help="run every example (--quick) and write one page of their figures")
    gallery.add_argument("--out", default="tinygrad_edu_gallery", help="directory for the page (index.html)")
    gallery.add_argument("--examples", default="examples", help="the examples folder (default: ./examples)")
    gallery.add_argument("--only", default=None, help="comma-separated example numbers or names, e.g. 06,13")
    gallery.add_argument("--full", action="store_true", help="run the examples in full, not with --quick")
    grade = commands.add_parser("grade", help="grade a folder of exercise submissions (a table, --csv too)")
    if list(sys.argv[1:] if argv is None else argv)[:1] == ["grade"]:
        # the grader (and every exercise family) is imported only for this command: its arguments live with it
        from .exercises import grade as _grade

        _grade.add_arguments(grade)
    args = parser.parse_args(argv)
    try:
        with _ctrl_c_delivered():
            return _command(args)
    except KeyboardInterrupt:
        print("\ntinygrad-edu: interrupted (Ctrl-C); files already written are complete", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Whoever read the output has gone (| head): nothing more to say, and nowhere to say it.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush is silent too
        except (OSError, ValueError, AttributeError):
            pass
        return 141
    except _OutputError as err:
        print(f"tinygrad-edu: cannot write {err.filename!r}: {err.strerror}", file=sys.stderr)
        return 1
    except ImportError as err:
        if err.name is not None and err.name.split(".")[0] == "tinygrad_edu":
            raise  # a broken installation of the library itself: the traceback is what a bug report needs
        # A demo's optional dependency is missing: the library's message names the extra to install.
        print(f"tinygrad-edu: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        where = f" {err.filename!r}" if err.filename else ""
        print(f"tinygrad-edu: input/output error{where}: {_reason(err)}", file=sys.stderr)
        return 1


def _gallery(args: argparse.Namespace) -> int:
    from .gallery import build_gallery, find_examples

    only = [part.strip() for part in args.only.split(",") if part.strip()] if args.only else None
    try:
        find_examples(args.examples)  # before making the output folder: a wrong --examples leaves nothing behind
        runs = build_gallery(_writable_directory(args.out), args.examples, quick=not args.full, only=only)
    except (FileNotFoundError, ValueError) as err:
        print(f"tinygrad-edu: {err}", file=sys.stderr)
        return 2
    failed = [run.name for run in runs if run.error is not None]
    print(f"wrote: {os.path.join(args.out, 'index.html')}" + (f" ({len(failed)} failed: {', '.join(failed)})"
                                                          if failed else ""))
    sys.stdout.flush()
    return 1 if failed else 0


def _command(args: argparse.Namespace) -> int:
    if args.command == "gallery":
        return _gallery(args)
    if args.command == "grade":
        from .exercises import grade

        return grade.run(args)
    if args.list:
        for name, function in DEMOS.items():
            print(f"{name:<12} {function.__doc__.splitlines()[0]}")
        print(f"(no name: {' + '.join(MAIN)})")
        sys.stdout.flush()  # a closed pipe shows here, where main reports it, not at the interpreter's exit
        return 0
    if args.name is not None and args.name not in DEMOS:
        print(f"tinygrad-edu: unknown demo {args.name!r}; valid demos: {', '.join(DEMOS)}", file=sys.stderr)
        return 2
    out = _writable_directory(args.out)
    import matplotlib

    matplotlib.use("Agg")  # pictures go to files; nothing opens a window
    written = []
    for name in (args.name,) if args.name else MAIN:
        written += DEMOS[name](out)
    print("wrote:\n  " + "\n  ".join(written))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
