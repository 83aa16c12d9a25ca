"""Packaging: the wheel and the sdist built from this repository install into a fresh virtual environment,
and ``tinygrad-edu demo`` runs from there; the extras declared in pyproject.toml fit the library and the README.

The build runs on a copy of the source tree in a temporary directory (the repository is never written to),
with ``python -m build --no-isolation`` when setuptools is installed (no network: the test extra's own
setuptools builds it), else in build's isolated environment. ``build`` makes the sdist first and then the
wheel *from the sdist*, so a file the sdist forgot breaks the wheel too.

A fresh venv (``python -m venv --without-pip``) gets a ``.pth`` file naming this interpreter's site-packages.
A path line in a ``.pth`` only appends that directory to ``sys.path``, after the fresh venv's own
site-packages, and does not run the ``.pth`` files inside it, so the repository's editable install stays out:
the fresh venv sees the already-installed dependencies (pip checks them against the wheel's Requires-Dist,
offline, with ``--no-index``) and finds ``tinygrad_edu`` only where pip put it, which the test asserts.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

try:
    from helpers_files import exclusive
except ImportError:  # run from the repository root as a package
    from tests.helpers_files import exclusive

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "tinygrad_edu"
with open(ROOT / "pyproject.toml", "rb") as _handle:
    PYPROJECT = tomllib.load(_handle)
PROJECT = PYPROJECT["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]
# Extras that are not features of the library: the test oracle, the lint tool, the documentation toolchain,
# and the umbrella itself.
NOT_FEATURES = {"test", "dev", "docs", "all"}
MAIN_DEMO_FILES = ["linear_regression_loss.png", "quadratic_contour.png", "quadratic_surface_3d.png"]
# Not part of a source checkout: version control, environments, caches, build and demo outputs.
_SKIP_ANYWHERE = {".git", "__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache", ".ipynb_checkpoints"}
_SKIP_AT_TOP = {".venv", ".cache", "build", "dist", "out", "site", "tinygrad_edu_demo"}
TIMEOUT = 300


# ---------------------------------------------------------------- helpers

def _norm(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(requirement: str) -> tuple[str, list[str]]:
    """``"dask[distributed]>=2024.1"`` -> ``("dask", ["distributed"])``."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", requirement)
    assert match, f"cannot parse the requirement {requirement!r}"
    extras = [e.strip() for e in (match.group(2) or "").split(",") if e.strip()]
    return match.group(1), extras


def _expand(extra: str, seen: frozenset[str] = frozenset()) -> set[str]:
    """The extras an extra brings, itself included, following ``tinygrad-edu[...]`` self-references."""
    assert extra in EXTRAS, f"the extra {extra!r} is referenced but not declared in pyproject.toml"
    assert extra not in seen, f"the extras refer to each other in a cycle through {extra!r}"
    found = {extra}
    for requirement in EXTRAS[extra]:
        name, inner = _requirement_names(requirement)
        if _norm(name) == _norm(PROJECT["name"]):
            for other in inner:
                found |= _expand(other, seen | {extra})
    return found


def _ignore(directory: str, names: list[str]) -> set[str]:
    top = Path(directory).resolve() == ROOT
    skipped = set()
    for name in names:
        path = Path(directory) / name
        if (name in _SKIP_ANYWHERE or (top and name in _SKIP_AT_TOP) or name.endswith((".egg-info", ".pyc"))
                or (path.is_dir() and (path / "pyvenv.cfg").exists())):
            skipped.add(name)
    return skipped


def _run(command: list[str], cwd: Path, what: str, timeout: float = TIMEOUT, stderr: bool = False) -> str:
    """Run ``command`` without PYTHONPATH and the like; its stdout (and stderr after it, if asked)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{what} failed ({done.returncode}): {command}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr if stderr else done.stdout


def _package_sources() -> set[str]:
    """Every .py file of the package in the working tree, as ``tinygrad_edu/...`` paths."""
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / PACKAGE).rglob("*.py") if "__pycache__" not in p.parts}


def _fresh_venv(path: Path) -> tuple[Path, Path]:
    """A new venv at ``path`` that sees this interpreter's installed packages; its python and scripts dir."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=TIMEOUT)
    scripts = Path(sysconfig.get_path("scripts", vars={"base": str(path), "platbase": str(path)}))
    python = scripts / ("python.exe" if os.name == "nt" else "python")
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], path, "sysconfig")
    # This interpreter's site-packages: its venv's, and the base interpreter's too when the venv sees those.
    ours = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib"),
                          *(p for p in sys.path if Path(p).name in ("site-packages", "dist-packages"))])
    (Path(site.strip()) / "_tinygrad_edu_test_dependencies.pth").write_text("\n".join(ours) + "\n")
    return python, scripts


def _pip_install(python: Path, target: Path, cwd: Path) -> str:
    command = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index", "--no-input", str(target)]
    if target.name.endswith(".tar.gz") and importlib.util.find_spec("setuptools") is not None:
        command.insert(-1, "--no-build-isolation")
    return _run(command, cwd, f"pip install {target.name}")


def _assert_installed_in(python: Path, venv: Path, cwd: Path) -> None:
    where = _run([str(python), "-c", "import tinygrad_edu; print(tinygrad_edu.__file__)"], cwd, "import").strip()
    assert Path(where).resolve().is_relative_to(venv.resolve()), (
        f"tinygrad_edu was imported from {where}, not from the fresh venv {venv}")


def _assert_lists_every_demo(script: Path, cwd: Path) -> None:
    from tinygrad_edu import cli

    listed = _run([str(script), "demo", "--list"], cwd, "tinygrad-edu demo --list")
    names = [line.split()[0] for line in listed.splitlines() if line and not line.startswith("(")]
    assert names == list(cli.DEMOS), listed


# ---------------------------------------------------------------- the built distributions

@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, object]:
    """Build the sdist and the wheel (from the sdist) of a copy of the repository; their paths and the log.

    Under pytest-xdist the workers share one build: the first builds it in their common temporary directory.
    """
    pytest.importorskip("build")  # the test extra installs it
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    base = root / "packaging"
    with exclusive(root / "packaging.lock"):
        if not (base / "build.log").exists():
            shutil.rmtree(base, ignore_errors=True)  # a build that failed half-way in another worker
            source, out = base / "source", base / "dist"
            shutil.copytree(ROOT, source, ignore=_ignore)
            command = [sys.executable, "-m", "build", "--outdir", str(out), str(source)]
            if importlib.util.find_spec("setuptools") is not None:
                command.insert(3, "--no-isolation")
            log = _run(command, base, "python -m build", stderr=True)
            (base / "build.log").write_text(log)
    (wheel,), (sdist,) = (base / "dist").glob("*.whl"), (base / "dist").glob("*.tar.gz")
    return {"wheel": wheel, "sdist": sdist, "log": (base / "build.log").read_text()}


@pytest.mark.slow
def test_the_wheel_holds_the_whole_package_and_nothing_else(dists):
    names = zipfile.ZipFile(dists["wheel"]).namelist()
    dist_info = f"{PACKAGE}-{PROJECT['version']}.dist-info/"
    strays = [n for n in names if not (n.startswith(PACKAGE + "/") or n.startswith(dist_info))]
    assert not strays, f"the wheel ships files outside the package: {strays}"
    junk = [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".nbi", ".nbc"))]
    assert not junk, f"the wheel ships caches: {junk}"
    # Every module of every subpackage (a folder without __init__.py would be silently left out).
    missing = _package_sources() - set(names)
    assert not missing, f"the wheel lacks {sorted(missing)}"
    entry_points = zipfile.ZipFile(dists["wheel"]).read(dist_info + "entry_points.txt").decode()
    assert "tinygrad-edu = tinygrad_edu.cli:main" in entry_points


@pytest.mark.slow
def test_the_sdist_holds_what_building_needs(dists):
    with tarfile.open(dists["sdist"]) as archive:
        top = f"{PACKAGE}-{PROJECT['version']}/"
        names = {n[len(top):] for n in archive.getnames() if n.startswith(top)}
    for needed in ("pyproject.toml", "README.md", "PKG-INFO"):
        assert needed in names, f"the sdist lacks {needed}"
    missing = _package_sources() - names
    assert not missing, f"the sdist lacks {sorted(missing)}"
    # Tests in an sdist are either all there (conftest, helpers, subfolders) or absent: half a suite cannot run.
    shipped_tests = {n for n in names if n.startswith("tests/") and n.endswith(".py")}
    if shipped_tests:
        repo_tests = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("*.py")
                      if "__pycache__" not in p.parts}
        assert repo_tests <= shipped_tests, (
            f"the sdist ships {len(shipped_tests)} of the {len(repo_tests)} test files, without "
            f"{sorted(repo_tests - shipped_tests)[:8]}...: ship them all (MANIFEST.in `graft tests`) or none")


@pytest.mark.slow
def test_the_license_ships_and_the_metadata_is_current(dists):
    license_ = PROJECT.get("license")
    assert isinstance(license_, str), (
        f"project.license is {license_!r}: setuptools deprecates the table form (builds stop working after "
        "2027-02-18); write an SPDX string, license = \"MIT\", with license-files = [\"LICENSE\"]")
    with tarfile.open(dists["sdist"]) as archive:
        sdist_names = [Path(n).name for n in archive.getnames()]
    wheel_names = zipfile.ZipFile(dists["wheel"]).namelist()
    assert any(n.startswith(("LICENSE", "LICENCE", "COPYING")) for n in sdist_names), "the sdist has no license file"
    assert any("/licenses/" in n for n in wheel_names), "the wheel's .dist-info has no license file"
    assert "deprecated" not in dists["log"].lower(), dists["log"]


@pytest.mark.slow
def test_the_wheel_installs_into_a_fresh_venv_and_runs_the_demo(dists, tmp_path):
    venv, work = tmp_path / "venv", tmp_path / "elsewhere"
    work.mkdir()  # outside the repository: the current directory must not put the source on sys.path
    python, scripts = _fresh_venv(venv)
    _pip_install(python, dists["wheel"], work)
    _assert_installed_in(python, venv, work)
    script = scripts / ("tinygrad-edu.exe" if os.name == "nt" else "tinygrad-edu")
    assert script.exists(), f"pip made no {script.name} script in {scripts}"
    _assert_lists_every_demo(script, work)

    printed = _run([str(script), "demo", "--out", "pictures"], work, "tinygrad-edu demo")
    pictures = work / "pictures"
    assert sorted(os.listdir(pictures)) == sorted(MAIN_DEMO_FILES), printed
    for name in MAIN_DEMO_FILES:
        data = (pictures / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000, f"{name}: {len(data)} bytes"
    # The data were made from y = 3x + 1 + noise: the installed library learned the line.
    line = next(line for line in printed.splitlines() if line.startswith("linear regression"))
    w, b = float(line.split("w = ")[1].split()[0]), float(line.split("b = ")[1].split()[0])
    assert abs(w - 3) < 0.1 and abs(b - 1) < 0.1, line


@pytest.mark.slow
def test_the_sdist_installs_into_a_fresh_venv(dists, tmp_path):
    venv, work = tmp_path / "venv", tmp_path / "elsewhere"
    work.mkdir()
    python, scripts = _fresh_venv(venv)
    _pip_install(python, dists["sdist"], work)  # pip builds a wheel from the sdist, then installs it
    _assert_installed_in(python, venv, work)
    _assert_lists_every_demo(scripts / ("tinygrad-edu.exe" if os.name == "nt" else "tinygrad-edu"), work)


# ---------------------------------------------------------------- the extras

def test_all_brings_every_feature_extra_and_not_the_test_oracle():
    features = set(EXTRAS) - NOT_FEATURES
    brought = _expand("all")
    assert features <= brought, f"tinygrad-edu[all] lacks {sorted(features - brought)}"
    tools = brought & {"test", "dev", "docs"}
    assert not tools, f"tinygrad-edu[all] brings {sorted(tools)}, which are not features of the library"
    for extra in EXTRAS:
        _expand(extra)  # every self-reference names a declared extra, without cycles


def _named_extras(text: str) -> set[str]:
    """Extras a source file tells users to install: ``tinygrad-edu[a,b]`` or ``extra="a"``."""
    found = set()
    for group in re.findall(r"tinygrad[-_]edu\[([^\]]*)\]", text):
        found |= {e.strip() for e in group.split(",") if e.strip()}
    found |= set(re.findall(r"\bextra\s*=\s*[\"']([A-Za-z0-9_-]+)[\"']", text))
    return found


def test_the_extras_the_library_asks_for_are_declared():
    sources = sorted(p for p in (ROOT / PACKAGE).rglob("*.py") if "__pycache__" not in p.parts)
    named: dict[str, list[str]] = {}  # extra -> the files naming it
    for path in sources:
        for extra in _named_extras(path.read_text()):
            named.setdefault(extra, []).append(path.relative_to(ROOT).as_posix())
    undeclared = {e: files for e, files in named.items() if e not in EXTRAS}
    assert not undeclared, f"the library tells users to install extras pyproject.toml does not declare: {undeclared}"
    assert {"digits", "mnist", "names", "mnist1d"} <= set(named), sorted(named)


def _top_level_modules(dist: str) -> set[str]:
    """The import names a distribution provides: its name with underscores, and what its installed RECORD lists.

    (Only the extras' dozen distributions are read: ``packages_distributions()`` reads every installed one, and
    takes seconds in the test environment.)
    """
    found = {dist.replace("-", "_")}
    try:
        files = importlib.metadata.distribution(dist).files or []
    except importlib.metadata.PackageNotFoundError:
        return found
    for file in files:
        top = file.parts[0]
        if not top.endswith((".dist-info", ".egg-info", ".data", ".pth")) and top not in ("..", "__pycache__"):
            found.add(top[:-3] if top.endswith(".py") else top)
    return found


def test_each_optional_import_names_an_extra_that_brings_it():
    """A module importing a package of a feature extra (not a core dependency) names an extra bringing it."""
    core = {_norm(_requirement_names(r)[0]) for r in PROJECT["dependencies"]}
    brought_by: dict[str, set[str]] = {}  # distribution -> the feature extras that bring it
    for extra in set(EXTRAS) - NOT_FEATURES:
        for inner in _expand(extra):
            for requirement in EXTRAS[inner]:
                name, sub = _requirement_names(requirement)
                for dist in [name, *sub]:  # dask[distributed] brings the distributed package too
                    if _norm(dist) not in core and _norm(dist) != _norm(PROJECT["name"]):
                        brought_by.setdefault(_norm(dist), set()).add(extra)
    extras_of_module: dict[str, set[str]] = {}  # top-level import name -> the feature extras that bring it
    for dist, extras in brought_by.items():
        for module in _top_level_modules(dist):
            extras_of_module.setdefault(module, set()).update(extras)
    problems, checked = [], 0
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        tree = ast.parse(path.read_text())
        modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                   for alias in node.names}
        modules |= {node.module.split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
        named = _named_extras(path.read_text())
        for module in sorted(modules):
            extras = extras_of_module.get(module)
            if extras:
                checked += 1
                if not named & extras:
                    problems.append(f"{path.relative_to(ROOT)} imports {module} but names none of "
                                    f"{sorted(extras)} (pip install \"tinygrad-edu[...]\")")
    assert not problems, "\n".join(problems)
    assert checked >= 2, "found almost no optional imports: is the check looking at the library?"


def test_the_readme_lists_every_extra_in_one_table():
    readme = (ROOT / "README.md").read_text()
    tables = re.findall(r"(?:^\|.*\|[ \t]*\n)+", readme, flags=re.MULTILINE)
    listed = [set(re.findall(r"^\|\s*`([A-Za-z0-9_-]+)`\s*\|", table, flags=re.MULTILINE)) for table in tables]
    best = max(listed, key=lambda names: len(names & set(EXTRAS)), default=set())
    assert set(EXTRAS) <= best, (
        f"no README table lists every extra (rows starting | `name` |); the closest lacks {sorted(set(EXTRAS) - best)}")
