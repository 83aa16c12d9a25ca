"""The README's Python snippets run as they are written (each block after the ones before it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_readme_has_python_snippets():
    assert len(BLOCKS) >= 5


def test_every_snippet_runs_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the training snippet writes a checkpoint into the working directory
    namespace: dict = {}
    for index, block in enumerate(BLOCKS):
        try:
            exec(compile(block, f"README.md python block {index}", "exec"), namespace)  # noqa: S102
        except Exception as err:  # noqa: BLE001 - reported with the block's number
            pytest.fail(f"README python block {index} raised {type(err).__name__}: {err}\n{block}")
    assert (tmp_path / "best.tg").exists()
