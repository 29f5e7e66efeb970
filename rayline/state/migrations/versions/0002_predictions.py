"""Prediction requests kept for feedback labels (monitoring).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "predictions",
        sa.Column("model", sa.String(length=255), nullable=False),
        sa.Column("prediction_id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("predicted", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("labels", sa.Text(), nullable=True),
        sa.Column("labelled", sa.Integer(), nullable=False),
        sa.Column("labelled_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("model", "prediction_id", name=op.f("pk_predictions")),
    )
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.create_index("ix_predictions_model_created", ["model", "created_at"], unique=False)
        batch_op.create_index(
            "ix_predictions_model_version_labelled",
            ["model", "version", "labelled_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_index("ix_predictions_model_version_labelled")
        batch_op.drop_index("ix_predictions_model_created")

    op.drop_table("predictions")
