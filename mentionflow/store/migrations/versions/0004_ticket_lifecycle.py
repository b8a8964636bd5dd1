"""Ticket lifecycle (assignee, response, resolution, reopening, SLA breach
flags), an append-only audit log, category feedback for retraining,
duplicate mentions attached to one open ticket, and API tokens.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("assignee", sa.String(256), nullable=True))
        batch.add_column(sa.Column("assigned_at", TS, nullable=True))
        batch.add_column(sa.Column("first_response_at", TS, nullable=True))
        batch.add_column(sa.Column("resolved_at", TS, nullable=True))
        batch.add_column(sa.Column("reopened_at", TS, nullable=True))
        batch.add_column(sa.Column("reopen_count", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("first_response_breached", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("resolution_breached", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("mention_count", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("last_mention_at", TS, nullable=True))
        batch.add_column(sa.Column("author_key", sa.String(512), nullable=True))
        batch.add_column(sa.Column("text_key", sa.String(64), nullable=True))
        batch.add_column(sa.Column("updated_at", TS, nullable=True))
        batch.create_index("ix_tickets_author_key", ["author_key"])
        batch.create_index("ix_tickets_text_key", ["text_key"])
    op.execute("UPDATE tickets SET last_mention_at = created_at, updated_at = created_at")

    with op.batch_alter_table("mentions") as batch:
        batch.add_column(sa.Column("ticket_id", sa.String(36), nullable=True))
        batch.create_index("ix_mentions_ticket_id", ["ticket_id"])
    op.execute("UPDATE mentions SET ticket_id = (SELECT t.id FROM tickets t WHERE t.mention_id = mentions.id)")

    op.create_table(
        "ticket_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.String(36), sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False, server_default="{}"),
    )
    op.execute(
        "INSERT INTO ticket_events (ticket_id, at, actor, action, from_status, to_status, details) "
        "SELECT id, created_at, 'router', 'created', NULL, status, '{}' FROM tickets"
    )
    op.create_table(
        "category_feedback",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("mention_id", sa.String(512), sa.ForeignKey("mentions.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("ticket_id", sa.String(36), nullable=True),
        sa.Column("model_category", sa.String(16), nullable=False),
        sa.Column("old_category", sa.String(16), nullable=False),
        sa.Column("new_category", sa.String(16), nullable=False),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("at", TS, nullable=False),
    )

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("team", sa.String(32), nullable=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_used_at", TS, nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
    op.drop_table("category_feedback")
    op.drop_table("ticket_events")
    with op.batch_alter_table("mentions") as batch:
        batch.drop_index("ix_mentions_ticket_id")
        batch.drop_column("ticket_id")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_text_key")
        batch.drop_index("ix_tickets_author_key")
        for col in ("updated_at", "text_key", "author_key", "last_mention_at", "mention_count", "resolution_breached",
                    "first_response_breached", "reopen_count", "reopened_at", "resolved_at", "first_response_at",
                    "assigned_at", "assignee"):
            batch.drop_column(col)
