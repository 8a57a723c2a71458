"""The ``followups`` command line, one module per group of commands."""

from server.cli.main import main

__all__ = ["main"]
