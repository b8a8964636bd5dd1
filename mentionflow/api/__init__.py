"""The team inbox HTTP API (FastAPI); ``create_app`` builds it."""

from mentionflow.api.app import create_app

__all__ = ["create_app"]
