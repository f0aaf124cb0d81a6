"""The public surface: ``__all__`` is complete (the README and docs/ are checked by ``test_docs.py``)."""

from __future__ import annotations

import inspect

import copytrace


def test_all_lists_every_public_name() -> None:
    public = {
        name
        for name in dir(copytrace)
        if not name.startswith("_")
        and not inspect.ismodule(getattr(copytrace, name))
        and name != "annotations"
    }
    assert public | {"__version__"} == set(copytrace.__all__)
