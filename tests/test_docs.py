"""The documentation site: ``mkdocs build --strict`` passes, and a docstring that breaks it fails the build.

The full build (``mkdocs.yml`` at the repository root, into a temporary directory) takes about 20 s on two
busy cores, so the tests that read its output are marked slow; the strictness tests build a two-page project
over a one-function module in a few seconds each. The pure helpers the site is built with
(``docs/_build/griffe_rst.py``, ``docs/_build/hooks.py``) are checked against hand-written expectations.
"""

from __future__ import annotations

import html
import importlib.util
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

try:
    from helpers_files import exclusive
except ImportError:  # run from the repository root as a package
    from tests.helpers_files import exclusive

pytest.importorskip("mkdocs")
pytest.importorskip("mkdocstrings")
pytest.importorskip("mkdocstrings_handlers.python")
pytest.importorskip("material")
pytest.importorskip("mkdocs_jupyter")
yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
BUILD_HELPERS = ROOT / "docs" / "_build"
ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_docs_{name}", BUILD_HELPERS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _build(config: Path, site: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
                          cwd=cwd, env=ENV, capture_output=True, text=True, timeout=900)


def _text(page: Path) -> str:
    """A built page's visible text: tags dropped, entities decoded, whitespace collapsed."""
    raw = re.sub(r"<(script|style)\b.*?</\1>", " ", page.read_text(encoding="utf-8"), flags=re.S)
    raw = re.sub(r"</?(a|code|span|em|strong)\b[^>]*>", "", raw)  # inline: no space around them
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", raw)).split())


def _words(text: str) -> str:
    """``text`` as the site shows it: RST/Markdown code quotes dropped, whitespace collapsed."""
    return " ".join(text.replace("``", "").replace("`", "").split())


# ---------------------------------------------------------------------------------------------------------
# The real site


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built from ``mkdocs.yml`` with ``--strict``; under pytest-xdist the workers share one build."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    out, record = root / "docs_site", root / "docs_build.json"
    with exclusive(root / "docs_build.lock"):
        if not record.exists():
            result = _build(ROOT / "mkdocs.yml", out, ROOT)
            problems = [line for line in result.stderr.splitlines() if line.startswith(("WARNING", "ERROR"))]
            record.write_text(json.dumps({"returncode": result.returncode,
                                          "problems": problems or [result.stderr[-3000:]]}))
    built = json.loads(record.read_text())
    assert built["returncode"] == 0, "mkdocs build --strict failed:\n" + "\n".join(built["problems"])
    return out


@pytest.mark.slow
def test_api_page_of_optim_has_adams_docstring(site):
    import tinygrad_edu as tg

    text = _text(site / "api" / "optim" / "index.html")
    doc = inspect.getdoc(tg.optim.Adam)
    summary = _words(doc.split("\n\n")[0])
    assert summary in text, summary
    # the update rule's literal block, kept line for line as code
    rule = next(line.strip() for line in doc.splitlines() if line.strip().startswith("m_hat ="))
    assert " ".join(rule.split()) in text, rule
    # the Args entries became the parameters table, with the defaults from the signature
    for name, default in [("betas", "(0.9, 0.999)"), ("amsgrad", "False")]:
        assert re.search(rf"{name} \S.*? {re.escape(default)}", text), (name, default)
    for name in tg.optim.__all__:
        if name[0].isupper() and isinstance(getattr(tg.optim, name), type):
            assert f'id="tinygrad_edu.optim.{name}"' in (site / "api/optim/index.html").read_text(), name


@pytest.mark.slow
def test_docstring_math_is_marked_up_for_mathjax(site):
    page = (site / "api" / "swa_utils" / "index.html").read_text(encoding="utf-8")
    # get_swa_multi_avg_fn's ``.. math::`` block, and the inline :math:`\beta` roles
    block = re.search(r'<div class="arithmatex">\\\[(.*?)\\\]</div>', page, flags=re.S)
    assert block is not None, "no display math on the swa_utils page"
    blocks = [" ".join(b.split()) for b in re.findall(r'<div class="arithmatex">\\\[(.*?)\\\]</div>', page, re.S)]
    assert r"\bar W \leftarrow \bar W + \frac{W - \bar W}{n + 1}" in blocks, blocks
    assert r'<span class="arithmatex">\(\beta\)</span>' in page
    rendered = re.sub(r'<details class="mkdocstrings-source">.*?</details>', "", page, flags=re.S)  # not the code
    assert ":math:" not in rendered and ".. math::" not in rendered
    assert "tex-mml-chtml.js" in page and "javascripts/mathjax.js" in page


@pytest.mark.slow
def test_every_notebook_is_a_tutorial_page(site):
    notebooks = [*sorted((ROOT / "notebooks").glob("*.ipynb")), *sorted((ROOT / "notebooks/exercises").glob("*.ipynb"))]
    assert notebooks and any(path.parent.name == "exercises" for path in notebooks)
    index = _text(site / "notebooks" / "index.html")
    for path in notebooks:
        folder = site / path.parent.relative_to(ROOT)
        page = folder / path.stem / "index.html"
        assert page.exists(), f"no page for {path.name}"
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = next("".join(c["source"]) for c in cells if c["cell_type"] == "code" and "".join(c["source"]).strip())
        first_line = code.strip().splitlines()[0].strip()
        assert " ".join(first_line.split()) in _text(page), (path.name, first_line)
        assert (folder / path.stem / path.name).exists(), f"{path.name}: no download copy"
        assert f'href="{path.name}" title="Download the notebook"' in page.read_text(encoding="utf-8"), path.name
        assert path.name in index


@pytest.mark.slow
def test_every_readme_section_is_on_the_site(site):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    in_code, sections = False, []
    for line in readme.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("## "):
            sections.append(line[3:].strip())
    assert len(sections) >= 8
    headings = set()
    for page in site.rglob("index.html"):
        for match in re.finditer(r"<h[12][^>]*>(.*?)</h[12]>", page.read_text(encoding="utf-8"), flags=re.S):
            headings.add(_words(html.unescape(re.sub(r"<[^>]+>", "", match.group(1)))).rstrip("¶").strip())
    missing = [s for s in sections if _words(s) not in headings]
    assert not missing, f"README sections with no page on the site: {missing}"
    # the opening paragraph is the home page's
    opening = readme.split("\n## ")[0].split("\n", 1)[1].strip().split("\n\n")[0]
    assert _words(opening) in _text(site / "index.html")


@pytest.mark.slow
@pytest.mark.parametrize("package, page", [("tinygrad_edu.train", "train"), ("tinygrad_edu.viz", "viz"),
                                           ("tinygrad_edu.optim", "optim"), ("tinygrad_edu.nn", "nn")])
def test_the_api_pages_cover_the_packages(site, package, page):
    import importlib

    module = importlib.import_module(package)
    html_page = (site / "api" / page / "index.html").read_text(encoding="utf-8")
    for name in module.__all__:  # whatever the package exports (new callbacks, sweeps, widgets) is documented
        if inspect.ismodule(getattr(module, name)):
            continue  # a submodule (nn.functional, optim.lr_scheduler) has a page of its own
        # a function named as its own submodule (fit in train/fit.py) is documented from that submodule
        assert f'id="{package}.{name}"' in html_page or f'id="{package}.{name}.{name}"' in html_page, name


# ---------------------------------------------------------------------------------------------------------
# Strictness: a docstring that breaks the build fails it


def _tiny_project(root: Path, docstring: str) -> Path:
    """A one-module project documented with the real site's mkdocstrings options and Markdown extensions."""
    real = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    mkdocstrings = next(p["mkdocstrings"] for p in real["plugins"] if isinstance(p, dict) and "mkdocstrings" in p)
    options = mkdocstrings["handlers"]["python"]["options"]
    options["extensions"] = [str(ROOT / e) if e.startswith("docs/") else e for e in options.get("extensions", [])]
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "index.md").write_text("# Tiny\n\n::: tinymod\n", encoding="utf-8")
    (root / "tinymod.py").write_text(
        f'"""A module."""\n\n\ndef scale(x: float, factor: float = 2.0) -> float:\n    """{docstring}"""\n'
        "    return x * factor\n",
        encoding="utf-8",
    )
    config = {"site_name": "tiny", "strict": True, "plugins": ["search", {"mkdocstrings": mkdocstrings}],
              "markdown_extensions": real["markdown_extensions"]}
    (root / "mkdocs.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return root / "mkdocs.yml"


GOOD = """Multiply ``x`` by ``factor``: see [scale][tinymod.scale].

    Args:
        x: the number.
        factor: the multiplier.
    """


@pytest.mark.parametrize("broken, message", [
    (GOOD.replace("[tinymod.scale]", "[tinymod.no_such_function]"), "Could not find cross-reference target"),
    (GOOD.replace("factor: the multiplier", "fcator: the multiplier"), "does not appear in the function signature"),
], ids=["broken-cross-reference", "unknown-parameter"])
def test_a_docstring_that_breaks_the_build_fails_it(tmp_path, broken, message):
    good = _build(_tiny_project(tmp_path / "good", GOOD), tmp_path / "good_site", tmp_path / "good")
    assert good.returncode == 0, good.stderr[-3000:]
    assert "the multiplier" in _text(tmp_path / "good_site" / "index.html")
    bad = _build(_tiny_project(tmp_path / "bad", broken), tmp_path / "bad_site", tmp_path / "bad")
    assert bad.returncode != 0, "a broken docstring built under --strict"
    assert message in bad.stderr, bad.stderr[-3000:]


# ---------------------------------------------------------------------------------------------------------
# The build helpers


@pytest.fixture(scope="module")
def rst():
    pytest.importorskip("griffe")
    return _load("griffe_rst").rst_to_markdown


def test_math_roles_and_blocks(rst):
    text = "With :math:`\\beta` the decay:\n\n.. math::\n    \\bar W \\leftarrow W\n    + 1\n\nDone."
    assert rst(text) == "With \\(\\beta\\) the decay:\n\n$$\n\\bar W \\leftarrow W\n+ 1\n$$\n\nDone."


def test_literal_blocks_become_fenced_code(rst):
    text = "Step t does::\n\n    m = b * m + g\n      indented\n\nThen ::\n\n    x\n\nAfter."
    assert rst(text) == (
        "Step t does:\n\n```text\nm = b * m + g\n  indented\n```\n\nThen\n\n```text\nx\n```\n\nAfter."
    )
    # a line ending in '::' with nothing indented after it is left alone
    assert rst("Odd::\nnext") == "Odd::\nnext"


def test_roles_over_a_line_break_code_blocks_and_admonitions(rst):
    assert rst("when :math:`e \\bmod\nk = 0`, see :class:`Adam`.") == "when \\(e \\bmod\nk = 0\\), see `Adam`."
    text = "Rule:\n\n.. code-block:: text\n\n    wait = wait + 1\n\n    stop\n\nso it stops."
    assert rst(text) == "Rule:\n\n```text\nwait = wait + 1\n\nstop\n```\n\nso it stops."
    assert rst(".. code:: python\n\n    x = 1\n") == "```python\nx = 1\n```\n"
    assert rst(".. note:: Keep it.\n    Really.\n\nNext.") == "!!! note\n    Keep it.\n    Really.\n\nNext."


def test_simple_tables(rst):
    headerless = "Functions:\n\n====  =========\n`a`   first one\n`b`   second\n====  =========\n\nEnd."
    assert rst(headerless) == "Functions:\n\n\n- `a`: first one\n- `b`: second\n\n\nEnd."
    header = "====  ====\nname  what\n====  ====\nx     one\ny     two\n====  ====\n"
    assert rst(header) == "\n| name | what |\n|---|---|\n| x | one |\n| y | two |\n\n"


def test_google_sections(rst):
    text = "Sum.\n\nArgs:\n    a, b: the terms,\n        any numbers.\n    c: more.\n\nExample:\n    >>> 1 + 1\n    2"
    assert rst(text) == (
        "Sum.\n\nArgs:\n    a: the terms,\n        any numbers.\n    b: the terms,\n        any numbers.\n"
        "    c: more.\n\nExamples:\n    >>> 1 + 1\n    2"
    )
    # 'a, b:' in prose (not a parameter section) is left alone
    assert rst("Note:\n    x, y: the axes.") == "Note:\n    x, y: the axes."


def test_attribute_comments():
    pytest.importorskip("griffe")
    comment_doc = _load("griffe_rst").comment_doc
    lines = ["x = 1", "#: The registry,", "#:", "#: simplest first.", "REGISTRY = ()", "# plain", "OTHER = 2"]
    assert comment_doc(lines, 5) == "The registry,\n\nsimplest first."
    assert comment_doc(lines, 7) is None and comment_doc(lines, 1) is None


def test_doctest_blocks_outside_examples_are_fenced(rst):
    text = "* a list item\n\n    >>> x = 1\n    >>> x\n    1\n\nMore."
    assert rst(text) == "* a list item\n\n    ```pycon\n    >>> x = 1\n    >>> x\n    1\n    ```\n\nMore."


README = """# proj

Opening words.

More opening.

## First

One.

```python
# not a heading
```

### Sub

Deeper.

## Second

Two.
"""


def test_readme_parts():
    hooks = _load("hooks")
    assert hooks.readme_part(README, "opening", None) == "Opening words.\n\nMore opening."
    assert hooks.readme_part(README, "section", "Second") == "## Second\n\nTwo."
    assert hooks.readme_part(README, "page", "First") == (
        "# First\n\nOne.\n\n```python\n# not a heading\n```\n\n## Sub\n\nDeeper."
    )
    from mkdocs.exceptions import PluginError

    with pytest.raises(PluginError, match="no section titled 'Third'.*'First', 'Second'"):
        hooks.readme_part(README, "page", "Third")
    assert hooks.readme_part(README, "section", "Third", optional=True) == ""
    # a list right under a paragraph gets the blank line Python-Markdown needs; code and nested items do not
    readme = "# p\n\n## L\n\nWhy:\n- one\n- two\n  more\n  - nested\n\n```\nx:\n- y\n  - z\n```\n"
    assert hooks.readme_part(readme, "section", "L") == (
        "## L\n\nWhy:\n\n- one\n- two\n  more\n    - nested\n\n```\nx:\n- y\n  - z\n```"
    )
    assert hooks.readme_part(README, "section", "Second", optional=True) == "## Second\n\nTwo."


def test_directives_expand_in_place(tmp_path):
    """Consecutive directives keep the blank line between them (a table must not swallow the next heading)."""
    from types import SimpleNamespace

    hooks = _load("hooks")
    (tmp_path / "README.md").write_text("# p\n\nHi.\n\n## A\n\n| x |\n|---|\n| 1 |\n\n## B\n\nTwo.\n", encoding="utf-8")
    (tmp_path / "mkdocs.yml").write_text("site_name: p\n", encoding="utf-8")
    config = SimpleNamespace(config_file_path=str(tmp_path / "mkdocs.yml"))
    page = SimpleNamespace(file=SimpleNamespace(src_uri="x.md"))
    source = "# Page\n\n<!-- readme-section: A -->\n\n<!-- readme-section: B -->\n<!-- readme-section?: C -->\nEnd.\n"
    assert hooks.on_page_markdown(source, page, config, None) == (
        "# Page\n\n## A\n\n| x |\n|---|\n| 1 |\n\n## B\n\nTwo.\n\nEnd.\n"
    )
