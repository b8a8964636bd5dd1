"""Mentionflow: listen to brand mentions, classify intent, route tickets to teams.

The shared core: data contracts, settings, Kafka plumbing, ticket store,
local-stack helpers and the command line.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
