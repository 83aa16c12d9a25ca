"""Experiments behind the command line's claim demos (``tinygrad-edu demo vanishing``, ``warmup``, ``names``).

Each module measures one claim of the sources on a laptop-sized problem and
returns its numbers (and writes its figures when given a directory); the
numbered example scripts print and assert them, and the ``demo`` command runs
them. Imported only by the command line and the examples, never by the library.
"""
