"""Errors of the insights package."""

from __future__ import annotations


class InsightsError(Exception):
    """Base class."""


class UnknownReport(InsightsError):
    """A report name that does not exist; `name` is what was asked for."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown report {name!r}")
        self.name = name


class BadRange(InsightsError):
    """A date range or ISO week that cannot be read (message names the input)."""


class InvalidRating(InsightsError):
    """A satisfaction score outside the scale (message names the field)."""
