"""A griffe extension that lets the package's docstrings render as Markdown on the documentation site.

The docstrings are Google style, but their math and tables are written the way Sphinx reads them:
``:math:`\\beta``` roles, ``.. math::`` blocks, ``text::`` before an indented literal block (the update
rules, written as plain formulas), and reStructuredText simple tables (``====  ====``). Markdown would
show the roles and ``::`` verbatim and run a table together into one paragraph, so before mkdocstrings
renders a docstring this extension rewrites, in the docs only (the source is untouched):

* ``:math:`x``` into ``\\(x\\)`` and a ``.. math::`` block into ``$$ ... $$`` (MathJax renders both,
  through ``pymdownx.arithmatex``);
* ``text::`` + indented block into ``text:`` + a fenced code block, so the formulas keep their layout, and
  a ``.. code-block:: lang`` directive into a fenced ``lang`` block;
* ``.. note::``, ``.. warning::`` (and the other admonitions) into Material's ``!!! note`` boxes;
* other roles (``:class:`X```) into inline code;
* a simple table into a Markdown table (or, without a header row, a list of "first column: rest");
* the project's ``Example:`` heading into ``Examples:``, the Google-style name of the section whose
  ``>>>`` lines griffe renders as code (``Example:`` alone would be read as an admonition of Markdown text);
* a ``>>>`` block outside the Examples section (in a module's text, say) into a fenced ``pycon`` block, which
  Markdown would otherwise run into a list above it;
* a ``#:`` comment above an assignment (Sphinx's attribute documentation, used across the package) into the
  attribute's docstring, which griffe does not read from comments;
* an argument entry naming several parameters (``device, dtype: ...``), which griffe's Google parser does
  not read, into one entry per name with the same description.

`rst_to_markdown` is a pure function of the text; ``tests/test_docs.py`` checks it on each form.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import griffe

__all__ = ["RstToMarkdown", "rst_to_markdown"]

_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_OTHER_ROLE = re.compile(r":[a-z]+:`([^`]+)`")
_CODE_DIRECTIVE = re.compile(r"^\.\. (?:code-block|code|sourcecode)::\s*(\w*)\s*$")
_ADMONITION = re.compile(r"^\.\. (note|warning|tip|important|hint|caution|danger|attention|seealso)::\s*(.*)$")
_TABLE_RULE = re.compile(r"^=+(\s+=+)+$")
_PARAMETER_SECTIONS = ("Args:", "Arguments:", "Params:", "Parameters:", "Keyword Args:", "Keyword Arguments:",
                       "Other Parameters:", "Attributes:")
_SECTION = re.compile(r"^[A-Z][A-Za-z ]*:\s*$")
_SEVERAL_NAMES = re.compile(r"^(\s+)(\w+(?:\s*,\s*\w+)+):(\s.*|)$")


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip())


def _block(lines: list[str], start: int, indent: int) -> tuple[list[str], int]:
    """The block indented deeper than ``indent`` from ``start`` on (leading blank lines skipped), dedented."""
    i = start
    while i < len(lines) and not lines[i].strip():
        i += 1
    body_start = i
    while i < len(lines) and (not lines[i].strip() or _indent_of(lines[i]) > indent):
        i += 1
    body = lines[body_start:i]
    while body and not body[-1].strip():
        body.pop()
        i -= 1
    if not body:
        return [], start
    common = min(_indent_of(line) for line in body if line.strip())
    return [line[common:] for line in body], i


def _roles(text: str) -> str:
    text = _MATH_ROLE.sub(lambda m: r"\(" + m.group(1) + r"\)", text)
    return _OTHER_ROLE.sub(lambda m: "`" + m.group(1) + "`", text)


def _table(lines: list[str], start: int) -> tuple[list[str], int] | None:
    """A simple table whose first rule is ``lines[start]``, as Markdown lines, and the index after it."""
    rule = lines[start]
    indent = _indent_of(rule)
    spans = [(m.start(), m.end()) for m in re.finditer(r"=+", rule)]
    rows: list[list[str]] = []
    rules = [0]
    i = start + 1
    while i < len(lines):
        line = lines[i]
        if _TABLE_RULE.match(line.strip()) and _indent_of(line) == indent:
            rules.append(len(rows))
            i += 1
            # A table ends at a rule followed by a blank line or the end of the text.
            if i >= len(lines) or not lines[i].strip():
                break
            continue
        if not line.strip():
            return None
        starts = [s for s, _ in spans[1:]] + [None]
        cells = [line[s:e].strip() for (s, _), e in zip(spans, starts)]
        rows.append(cells)
        i += 1
    else:
        return None
    pad = " " * indent
    if len(rules) >= 3 and rules[1] > 0:  # rule, header rows, rule, body rows, rule
        header, body = rows[: rules[1]], rows[rules[1]:]
        head = [" ".join(cells[c] for cells in header).strip() for c in range(len(spans))]
        out = [pad + "| " + " | ".join(head) + " |", pad + "|" + "---|" * len(spans)]
        out += [pad + "| " + " | ".join(cells) + " |" for cells in body]
    else:
        out = [pad + "- " + cells[0] + ": " + " ".join(c for c in cells[1:] if c) for cells in rows]
    return ["", *out, ""], i


def _split_names(lines: list[str]) -> list[str]:
    """In parameter sections, ``a, b: text`` (and its continuation lines) as one entry per name."""
    out: list[str] = []
    in_params = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if _SECTION.match(line):
            in_params = line.strip() in _PARAMETER_SECTIONS
        match = _SEVERAL_NAMES.match(line) if in_params else None
        if match:
            indent = len(match.group(1))
            end = i + 1
            while end < len(lines) and lines[end].strip() and _indent_of(lines[end]) > indent:
                end += 1
            for name in re.split(r"\s*,\s*", match.group(2)):
                out += [match.group(1) + name + ":" + match.group(3), *lines[i + 1:end]]
            i = end
            continue
        out.append(line)
        i += 1
    return out


def _fence_doctests(lines: list[str]) -> list[str]:
    """Each ``>>>`` block (after a blank line, up to the next blank line) outside ``Examples:`` as fenced pycon."""
    out: list[str] = []
    in_examples = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() and _indent_of(line) == 0:
            in_examples = line.rstrip() == "Examples:"
        if not in_examples and line.lstrip().startswith(">>>") and (i == 0 or not lines[i - 1].strip()):
            end = i
            while end < len(lines) and lines[end].strip():
                end += 1
            indent = _indent_of(line)
            pad = " " * indent
            out += [pad + "```pycon", *(pad + b[indent:] for b in lines[i:end]), pad + "```"]
            i = end
            continue
        out.append(line)
        i += 1
    return out


def rst_to_markdown(text: str) -> str:
    """``text`` (a docstring) with its reStructuredText math, literal blocks, roles and tables made Markdown."""
    text = _roles(text)  # first, on the whole text: a role may run over a line break
    lines = ["Examples:" if line.rstrip() == "Example:" else line for line in text.split("\n")]
    lines = _fence_doctests(_split_names(lines))
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        indent = _indent_of(line)
        pad = " " * indent
        if stripped.startswith(".. math::"):
            first = stripped[len(".. math::"):].strip()
            body, i = _block(lines, i + 1, indent)
            out += [pad + "$$"] + ([pad + first] if first else []) + [pad + b for b in body] + [pad + "$$"]
            continue
        code = _CODE_DIRECTIVE.match(stripped)
        if code:
            body, i = _block(lines, i + 1, indent)
            out += [pad + "```" + (code.group(1) or "text"), *(pad + b if b.strip() else "" for b in body), pad + "```"]
            continue
        note = _ADMONITION.match(stripped)
        if note:
            first = note.group(2).strip()
            body, i = _block(lines, i + 1, indent)
            kind = "info" if note.group(1) == "seealso" else note.group(1)
            body = ([first] if first else []) + body
            out += [pad + "!!! " + kind, *(pad + "    " + b if b.strip() else "" for b in body)]
            continue
        if _TABLE_RULE.match(stripped):
            table = _table(lines, i)
            if table is not None:
                out += table[0]
                i = table[1]
                continue
        if stripped.endswith("::") and not stripped.startswith(".."):
            body, j = _block(lines, i + 1, indent)
            if body:
                head = line.rstrip()[:-2]
                if head.strip():
                    out.append(head.rstrip() if head.endswith(" ") else head + ":")
                out += ["", pad + "```text", *(pad + b if b.strip() else "" for b in body), pad + "```"]
                i = j
                continue
        out.append(line)
        i += 1
    return "\n".join(out)


@cache
def _source_lines(path: str) -> tuple[str, ...]:
    return tuple(Path(path).read_text(encoding="utf-8").splitlines())


def comment_doc(lines: tuple[str, ...] | list[str], lineno: int) -> str | None:
    """The ``#:`` comment lines right above line ``lineno`` (1-based), joined, or None if there are none."""
    found: list[str] = []
    i = lineno - 2
    while i >= 0:
        match = re.match(r"^\s*#:(?: (.*)|())$", lines[i])
        if not match:
            break
        found.insert(0, match.group(1) or "")
        i -= 1
    return "\n".join(found) if found else None


class RstToMarkdown(griffe.Extension):
    """Rewrite each docstring's reStructuredText forms as Markdown before mkdocstrings renders it."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)

    def on_attribute_instance(self, *, attr: griffe.Attribute, agent: Any, **kwargs: Any) -> None:
        if attr.docstring is not None or attr.lineno is None or not isinstance(attr.filepath, Path):
            return
        text = comment_doc(_source_lines(str(attr.filepath)), attr.lineno)
        if text is not None:
            attr.docstring = griffe.Docstring(rst_to_markdown(text), lineno=attr.lineno - 1, parent=attr,
                                              parser=getattr(agent, "docstring_parser", None),
                                              parser_options=getattr(agent, "docstring_options", None))
