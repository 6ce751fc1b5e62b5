"""Argument types and the help format shared by the ``minigrad`` subcommands.

Each type raises :class:`argparse.ArgumentTypeError`, so argparse reports a bad value the usual
way: ``minigrad train: error: argument --limit-train: must be >= 1, got 0`` and exit status 2.
"""

from __future__ import annotations

import argparse
import math


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help that states each option's default once: appended unless the help already gives it or it is unset."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        unset = action.default is None or action.default is False or action.default == [] or (
            action.default is argparse.SUPPRESS
        )
        if unset or "%(default)" in text or "default:" in text:
            return text
        return f"{text} (default: %(default)s)"


def _int_at_least(text: str, minimum: int, hint: str = "") -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}{hint}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an int >= 1 (``--limit-train 0`` is an error, not "everything")."""
    return _int_at_least(text, 1, " (leave the option out for the default)")


def nonnegative_int(text: str) -> int:
    """argparse type: an int >= 0."""
    return _int_at_least(text, 0)


def finite_float(text: str) -> float:
    """argparse type: a finite float (no nan or inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def registry_name(text: str) -> str:
    """argparse type of an optimizer name: its registry key (``Layer-SGD`` -> ``layer_sgd``), or the valid names."""
    import optimizers

    try:
        return optimizers.registry_key(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
