"""The ``mentionflow`` command."""

from mentionflow.cli.main import main

__all__ = ["main"]
