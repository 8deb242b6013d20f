"""Hypothesis strategies for odd platform payloads: a recorded payload with a few of its values
(or keys' values at any depth) replaced by hostile ones — wrong types, 1e300, NaN, huge texts,
deep nesting. Drawn once into a list, so async tests can post them through real endpoints."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

HOSTILE = st.sampled_from(
    [
        1e300,
        -1e300,
        float("nan"),
        float("inf"),
        2**70,
        -(2**70),
        -1,
        0,
        "",
        "x" * 70_000,
        "\u202e\u0000\ud7ff",
        [],
        {},
        True,
        None,
        [[[[[]]]]],
        {"": {"": {}}},
    ]
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
VALUE = HOSTILE | JSON


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield (*prefix, index)
            yield from _paths(value, (*prefix, index))


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for step in path[:-1]:
        doc = doc[step]
    doc[path[-1]] = value


@st.composite
def mutated(draw: st.DrawFn, bases: list[dict[str, Any]]) -> dict[str, Any]:
    doc = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(doc))
        if not paths:
            break
        _set(doc, draw(st.sampled_from(paths)), copy.deepcopy(draw(VALUE)))  # shared literals stay intact
    return doc


def draw_examples(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """`count` examples, the same on every run (derandomized), without Hypothesis' database."""
    examples: list[Any] = []

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(strategy)
    def collect(example: Any) -> None:
        examples.append(example)

    collect()
    return examples


def deep_nesting(depth: int = 100_000) -> bytes:
    return b"[" * depth + b"]" * depth
