"""Shared helpers for the teaching printouts: numbers and arrays as short text, and plain tables.

Used by `tinygrad_edu.stepthrough` and `tinygrad_edu.optim.explain`. A small
array is written out in full; a large one is summarised by its shape, mean and
norm, so a table stays readable whatever the size of a model.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["FULL_SIZE", "format_value", "text_table", "html_table"]

#: Arrays with at most this many elements are printed in full.
FULL_SIZE = 10


def format_value(value: Any, full_size: int = FULL_SIZE) -> str:
    """``value`` (a number or an array) as one line of text: in full when small, else summarised."""
    if value is None:
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    array = np.asarray(value)
    if array.ndim == 0:
        return f"{array.item():.6g}" if array.dtype.kind in "fc" else str(array.item())
    if array.size <= full_size:
        text = np.array2string(array, precision=4, separator=", ", max_line_width=10_000)
        return " ".join(text.split())  # a matrix on one line: [[1, 2], [3, 4]]
    as_float = array.astype(np.float64, copy=False)
    return f"shape {array.shape}, mean {as_float.mean():.4g}, norm {np.linalg.norm(as_float.ravel()):.4g}"


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> str:
    """Rows of strings as a plain-text table with aligned columns (the last column left ragged)."""
    widths = [len(h) for h in header]
    for row in rows:
        for k, cell in enumerate(row[:-1]):
            widths[k] = max(widths[k], len(cell))
    lines = []
    for row in [list(header), *rows]:
        cells = [cell.ljust(widths[k]) for k, cell in enumerate(row[:-1])] + [row[-1]]
        lines.append((indent + "  ".join(cells)).rstrip())
    lines.insert(1, indent + "  ".join("-" * w for w in widths[:-1]) + ("  " if len(widths) > 1 else "")
                 + "-" * max(widths[-1], max((len(r[-1]) for r in rows), default=0), 1))
    return "\n".join(lines)


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]], caption: str = "") -> str:
    """Rows of strings as an HTML table (escaped), for ``_repr_html_`` in notebooks."""
    parts = ["<table>"]
    if caption:
        parts.append(f"<caption style='text-align:left'>{html.escape(caption)}</caption>")
    parts.append("<thead><tr>" + "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in header)
                 + "</tr></thead><tbody>")
    for row in rows:
        parts.append("<tr>" + "".join(f"<td style='text-align:left'><code>{html.escape(c)}</code></td>"
                                      for c in row) + "</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)
