"""Stub: filled in by issue 12."""

from __future__ import annotations

from typing import Any


def register(sub: Any, parser_class: Any) -> None:
    """Add this module's commands to the `followups` parser."""
