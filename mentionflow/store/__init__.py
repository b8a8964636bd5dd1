"""The ticket store: classified mentions, tickets and source cursors.

SQLite by default (embedded, a file under ``var/``); PostgreSQL in
production by ``MENTIONFLOW_DATABASE_URL``. Schema changes go through Alembic.
"""

from mentionflow.store.db import make_engine, migrate
from mentionflow.store.repository import RoutedMention, TicketStore

__all__ = ["RoutedMention", "TicketStore", "make_engine", "migrate"]
