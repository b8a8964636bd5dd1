"""Listener state: seen mention ids per source, last poll time, the intake queue.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("source_cursors", sa.Column("polled_at", TS, nullable=True))
    op.create_table(
        "source_seen",
        sa.Column("source", sa.String(128), primary_key=True),
        sa.Column("mention_id", sa.String(512), primary_key=True),
        sa.Column("seen_at", TS, nullable=False, index=True),
    )
    op.create_table(
        "intake_queue",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("mention_id", sa.String(512), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("received_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("intake_queue")
    op.drop_table("source_seen")
    with op.batch_alter_table("source_cursors") as batch:
        batch.drop_column("polled_at")
