"""Mentions, tickets and source cursors.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "mentions",
        sa.Column("id", sa.String(512), primary_key=True),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("native_id", sa.String(448), nullable=False),
        sa.Column("brand", sa.String(128), nullable=False, index=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(16)),
        sa.Column("author_handle", sa.String(256), nullable=False),
        sa.Column("author_display_name", sa.String(512)),
        sa.Column("author_followers", sa.BigInteger(), nullable=False),
        sa.Column("author_verified", sa.Boolean(), nullable=False),
        sa.Column("url", sa.String(4096)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("raw", sa.JSON()),
        sa.Column("category", sa.String(16), nullable=False, index=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("classified_at", TS, nullable=False),
        sa.Column("team", sa.String(32)),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.Column("routed_at", TS, nullable=False),
    )
    op.create_table(
        "tickets",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "mention_id",
            sa.String(512),
            sa.ForeignKey("mentions.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("team", sa.String(32), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("brand", sa.String(128), nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sla_due_at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("published_at", TS),
    )
    op.create_index("ix_tickets_team_status", "tickets", ["team", "status"])
    op.create_table(
        "source_cursors",
        sa.Column("source", sa.String(128), primary_key=True),
        sa.Column("cursor", sa.JSON(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("source_cursors")
    op.drop_index("ix_tickets_team_status", table_name="tickets")
    op.drop_table("tickets")
    op.drop_table("mentions")
