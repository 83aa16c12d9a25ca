"""MkDocs hooks: the README's sections as pages, and the notebooks as tutorials, without copying either.

* A page under ``docs/`` includes README text with one of these lines (an HTML comment, so the source
  page still reads as Markdown)::

      <!-- readme-opening -->            the paragraphs between the README's title and its first section
      <!-- readme-page: Optimizers -->   that ``## Optimizers`` section as the page: its heading becomes the
                                         page's title, its subsections move up one level
      <!-- readme-section: Ten lines --> that section as it stands, heading included
      <!-- readme-section?: Documentation -->   the same, or nothing if the README has no such section

  A section runs to the next heading of its level or above (code blocks skipped). A heading that is no
  longer in the README stops the build with an error naming it, so the site cannot silently go stale.
* ``::: package`` (an mkdocstrings directive) is followed by a ``::: package.name.name`` directive for each
  function that ``package`` exports under the name of its own submodule (``tinygrad_edu.train.fit`` is the
  function ``fit`` at run time, but griffe, reading the source, sees the submodule ``train/fit.py`` there
  and would leave the function out of the package's page).
* ``notebooks/*.ipynb`` become pages at ``notebooks/<name>/`` (rendered by mkdocs-jupyter, not executed:
  ``tests/test_notebooks.py`` executes them), read from where they are, and ``notebooks/README.md`` their
  index page (``notebooks/``); each notebook is added to the ``Tutorials`` section of the navigation,
  titled by its first heading. The exercise notebooks, ``notebooks/exercises/*.ipynb``, become pages at
  ``notebooks/exercises/<name>/``, in an ``Exercises`` subsection of ``Tutorials``.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

_DIRECTIVE = re.compile(r"^<!--[ \t]*readme-(opening|page|section)(\?)?(?::[ \t]*(.*?))?[ \t]*-->[ \t]*$", re.MULTILINE)
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_TUTORIALS = "Tutorials"
_EXERCISES = "Exercises"  # the subsection of Tutorials holding notebooks/exercises/*.ipynb
_AUTODOC = re.compile(r"^::: *([\w.]+) *$", re.MULTILINE)


def _root(config: Any) -> Path:
    return Path(config.config_file_path).resolve().parent


def _notebooks(config: Any, folder: str = "notebooks") -> list[Path]:
    return sorted((_root(config) / folder).glob("*.ipynb"))


def _all_notebooks(config: Any) -> list[str]:
    """Every notebook published, as a path relative to the repository root (``notebooks/exercises/x.ipynb``)."""
    root = _root(config)
    return [p.relative_to(root).as_posix() for folder in ("notebooks", "notebooks/exercises")
            for p in _notebooks(config, folder)]


def _headings(lines: list[str]) -> list[tuple[int, int, str]]:
    """(line index, level, text) of each Markdown heading outside fenced code blocks."""
    found, fence = [], None
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            marker = stripped[:3]
            fence = None if fence == marker else (fence or marker)
            continue
        match = None if fence else _HEADING.match(line)
        if match:
            found.append((i, len(match.group(1)), match.group(2)))
    return found


def _shift(lines: list[str], by: int) -> list[str]:
    """``lines`` with every heading outside code moved ``by`` levels (negative: up), kept within 1..6."""
    lines = list(lines)
    for i, level, text in _headings(lines):
        lines[i] = "#" * min(6, max(1, level + by)) + " " + text
    return lines


_LIST_ITEM = re.compile(r"^([-*+]|\d+\.)\s")


def _lists_after_blank_lines(lines: list[str]) -> list[str]:
    """Lists as Python-Markdown reads them: a blank line before a list that follows a paragraph directly, and
    a nested item indented 4 spaces, not 2 (GitHub needs neither)."""
    out: list[str] = []
    fence = None
    for line in lines:
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            marker = stripped[:3]
            fence = None if fence == marker else (fence or marker)
        elif (fence is None and _LIST_ITEM.match(line) and out and out[-1].strip()
              and not _LIST_ITEM.match(out[-1]) and out[-1][:1] not in " \t"):
            out.append("")
        elif fence is None and line.startswith("  ") and not line.startswith("   ") and _LIST_ITEM.match(stripped):
            line = "  " + line
        out.append(line)
    return out


def readme_part(readme: str, kind: str, title: str | None, optional: bool = False) -> str:
    """The README text a directive asks for (see the module docstring); `PluginError` if it is not there.

    With ``optional`` (``readme-section?:``), a section the README does not have gives nothing instead.
    """
    lines = _lists_after_blank_lines(readme.split("\n"))
    heads = _headings(lines)
    if kind == "opening":
        first = next((i for i, level, _ in heads if level == 1), -1)
        end = next((i for i, level, _ in heads if level >= 2 and i > first), len(lines))
        return "\n".join(lines[first + 1:end]).strip("\n")
    for n, (i, level, text) in enumerate(heads):
        if text == title:
            end = next((j for j, lv, _ in heads[n + 1:] if lv <= level), len(lines))
            part = lines[i:end]
            if kind == "page":
                part = ["# " + text, *_shift(part[1:], 1 - level)]
            return "\n".join(part).strip("\n")
    if optional:
        return ""
    known = ", ".join(repr(text) for _, level, text in heads if level == 2)
    raise PluginError(f"README.md has no section titled {title!r} (docs include it); its sections are: {known}")


def shadowed_exports(package: str) -> list[str]:
    """The names in ``package.__all__`` that are, at run time, not the submodule of the same name."""
    module = importlib.import_module(package)
    if not hasattr(module, "__path__"):
        return []
    return [name for name in getattr(module, "__all__", [])
            if not inspect.ismodule(getattr(module, name, None)) and importlib.util.find_spec(f"{package}.{name}")]


def _with_shadowed(match: re.Match) -> str:
    package = match.group(1)
    extra = [f"::: {package}.{name}.{name}\n    options:\n      show_root_full_path: false"
             for name in shadowed_exports(package)]
    return "\n\n".join([match.group(0), *extra])


def _notebook_title(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", [])).split("\n"):
                if line.startswith("# "):
                    return line[2:].strip()
    return path.stem.replace("_", " ")


def on_config(config: Any) -> Any:
    """Add each notebook to the ``Tutorials`` section of the navigation, and watch the included files."""
    root = _root(config)
    for entry in config.nav or []:
        if isinstance(entry, dict) and _TUTORIALS in entry:
            section = entry[_TUTORIALS]
            section += [{_notebook_title(p): f"notebooks/{p.name}"} for p in _notebooks(config)]
            exercises = [{_notebook_title(p): f"notebooks/exercises/{p.name}"}
                         for p in _notebooks(config, "notebooks/exercises")]
            if exercises:
                section.append({_EXERCISES: exercises})
    config.watch += [str(root / "README.md"), str(root / "notebooks")]
    return config


@event_priority(100)  # before mkdocs-jupyter's on_files, which turns the .ipynb files into pages
def on_files(files: Files, config: Any) -> Files:
    """Add ``notebooks/README.md`` (the tutorials' index) and each notebook (exercises too), read where they are."""
    root = str(_root(config))
    for path in ["notebooks/README.md", *_all_notebooks(config)]:
        files.append(File(path, root, config.site_dir, config.use_directory_urls))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Expand the README directives; on the tutorials' index, link each notebook's name to its page."""
    if _DIRECTIVE.search(markdown):
        readme = (_root(config) / "README.md").read_text(encoding="utf-8")
        markdown = _DIRECTIVE.sub(lambda m: readme_part(readme, m.group(1), m.group(3), bool(m.group(2))),
                                markdown)
    markdown = _AUTODOC.sub(_with_shadowed, markdown)
    if page.file.src_uri == "notebooks/README.md":
        markdown = re.sub(r"`((?:exercises/)?\w+)\.ipynb`", r"[`\1.ipynb`](\1.ipynb)", markdown)
        markdown += (
            "\n\n!!! note\n    These pages show the notebooks as stored, without outputs. Open them from the "
            "repository's `notebooks/` folder in Jupyter to run them; the test suite executes every one.\n"
        )
    return markdown
