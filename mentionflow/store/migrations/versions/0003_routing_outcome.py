"""Richer routing outcome: due times per SLA target, tags, cc, review
suggestion, spam labels, and brand crisis (spike) state.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.alter_column("sla_due_at", new_column_name="first_response_due_at", existing_type=TS)
        batch.add_column(sa.Column("resolution_due_at", TS, nullable=True))
        batch.add_column(sa.Column("language", sa.String(16), nullable=True))
        batch.add_column(sa.Column("platform", sa.String(64), nullable=True))
        batch.add_column(sa.Column("tags", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("cc", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("suggested_team", sa.String(32), nullable=True))
    op.execute("UPDATE tickets SET resolution_due_at = first_response_due_at WHERE resolution_due_at IS NULL")
    with op.batch_alter_table("tickets") as batch:
        batch.alter_column("resolution_due_at", existing_type=TS, nullable=False)

    with op.batch_alter_table("mentions") as batch:
        batch.add_column(sa.Column("spam", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("spam_reasons", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("tags", sa.JSON(), nullable=False, server_default="[]"))
        batch.create_index("ix_mentions_spam", ["spam"])

    op.create_table(
        "brand_states",
        sa.Column("brand", sa.String(128), primary_key=True),
        sa.Column("spike", sa.Boolean(), nullable=False),
        sa.Column("since", TS, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("brand_states")
    with op.batch_alter_table("mentions") as batch:
        batch.drop_index("ix_mentions_spam")
        batch.drop_column("tags")
        batch.drop_column("spam_reasons")
        batch.drop_column("spam")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("suggested_team")
        batch.drop_column("cc")
        batch.drop_column("tags")
        batch.drop_column("platform")
        batch.drop_column("language")
        batch.drop_column("resolution_due_at")
        batch.alter_column("first_response_due_at", new_column_name="sla_due_at", existing_type=TS)
