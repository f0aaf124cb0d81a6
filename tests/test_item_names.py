"""Item names as flat arrays (``copytrace.index._item_names``) against a dict."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from copytrace.index._item_names import ItemNames

names = st.tuples(st.sampled_from(["news", "blogs", "ünï"]), st.text(min_size=1, max_size=6))
ops = st.lists(st.tuples(st.sampled_from(["add", "remove", "compact"]), names), max_size=60)


@settings(max_examples=80, deadline=None)
@given(ops)
def test_names_agree_with_a_dict(steps: list[tuple[str, tuple[str, str]]]) -> None:
    """Adds, removals and compactions (renumbering the present names in order) in any order: every present
    name is found at its number, every absent one is not."""
    table = ItemNames()
    numbers: dict[tuple[str, str], int] = {}
    order: list[tuple[str, str]] = []  # every name given a number, in order
    alive: list[bool] = []
    for op, name in steps:
        if op == "add" and name not in numbers:
            numbers[name] = table.append(*name)
            order.append(name)
            alive.append(True)
        elif op == "remove" and name in numbers:
            table.remove(numbers.pop(name))
            alive[len(order) - 1 - order[::-1].index(name)] = False  # its latest number
        elif op == "compact":
            live = np.flatnonzero(np.array(alive, dtype=bool))
            table = table.select(live)
            order = [order[i] for i in live.tolist()]
            alive = [True] * len(order)
            numbers = {n: i for i, n in enumerate(order)}
        assert len(table) == len(order)
        for name, number in numbers.items():
            assert table.number(*name) == number and table[number] == name
        for name in set(order) - set(numbers):
            assert table.number(*name) is None
        for bank in ("news", "blogs", "ünï", "none"):  # many at once, as one by one
            ids = [i for _, i in order] + ["never added"]
            assert table.numbers(bank, ids) == [table.number(bank, i) for i in ids]


def test_arrays_round_trip() -> None:
    table = ItemNames()
    for i in range(100):
        table.append(f"bank{i % 3}", f"item {i} é")
    again = ItemNames.from_arrays(table.banks, table.arrays())
    assert [again[i] for i in range(100)] == [table[i] for i in range(100)]
    assert again.number("bank1", "item 4 é") == 4 and again.number("bank0", "item 4 é") is None
