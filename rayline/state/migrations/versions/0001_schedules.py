"""Schedules and their run history.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("name", sa.String(48), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("next_fire", sa.Double(), nullable=True),
        sa.Column("last_fire", sa.Double(), nullable=True),
        sa.Column("fingerprint", sa.String(128), nullable=True),
        sa.Column("fingerprint_seen", sa.String(128), nullable=True),
        sa.Column("fingerprint_seen_at", sa.Double(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_schedules")),
    )
    op.create_table(
        "schedule_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("schedule", sa.String(48), nullable=False),
        sa.Column("submission_id", sa.String(128), nullable=False),
        sa.Column("scheduled_time", sa.Double(), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("step", sa.String(32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=True),
        sa.Column("ended_at", sa.Double(), nullable=True),
        sa.Column("model", sa.String(255), nullable=True),
        sa.Column("version", sa.String(32), nullable=True),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("champion_score", sa.Double(), nullable=True),
        sa.Column("metric", sa.String(255), nullable=True),
        sa.Column("mlflow_run_id", sa.String(64), nullable=True),
        sa.Column("fingerprint", sa.String(128), nullable=True),
        sa.Column("webhook_status", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_runs")),
        sa.UniqueConstraint("submission_id", name=op.f("uq_schedule_runs_submission_id")),
    )
    op.create_index(
        "ix_schedule_runs_schedule_time", "schedule_runs", ["schedule", "scheduled_time"]
    )
    op.create_index(op.f("ix_schedule_runs_status"), "schedule_runs", ["status"])


def downgrade() -> None:
    op.drop_table("schedule_runs")
    op.drop_table("schedules")
