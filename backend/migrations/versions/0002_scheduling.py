"""scheduling controls: deduplication, coalescing, concurrency keys, batches, chains

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 08:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEDUP_ACTIVE = "dedup_key IS NOT NULL AND status IN ('pending', 'processing')"
COALESCE_OPEN = "coalesce_key IS NOT NULL AND status = 'pending' AND started_at IS NULL"
PROCESSING_KEY = "concurrency_key IS NOT NULL AND status = 'processing'"


def upgrade() -> None:
    op.create_table(
        "operation_batches",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("principal_id", sa.Uuid(), nullable=True),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_operation_batches_principal_id_principals"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_operation_batches_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operation_batches")),
    )
    op.create_index(
        "ix_operation_batches_tenant_id", "operation_batches", ["tenant_id", "id"], unique=False
    )

    # Nullable columns without defaults: adding them rewrites nothing, however large
    # the table already is.
    op.add_column("operations", sa.Column("dedup_key", sa.String(length=200), nullable=True))
    op.add_column("operations", sa.Column("coalesce_key", sa.String(length=200), nullable=True))
    op.add_column("operations", sa.Column("concurrency_key", sa.String(length=200), nullable=True))
    op.add_column("operations", sa.Column("concurrency_limit", sa.Integer(), nullable=True))
    op.add_column("operations", sa.Column("parent_id", sa.Uuid(), nullable=True))
    op.add_column("operations", sa.Column("batch_id", sa.Uuid(), nullable=True))
    op.add_column("operations", sa.Column("retention", sa.Interval(), nullable=True))
    op.create_check_constraint(
        op.f("ck_operations_concurrency_limit"),
        "operations",
        "(concurrency_key IS NULL) = (concurrency_limit IS NULL) "
        "AND (concurrency_limit IS NULL OR concurrency_limit >= 1)",
    )
    op.create_foreign_key(
        op.f("fk_operations_parent_id_operations"),
        "operations",
        "operations",
        ["parent_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_foreign_key(
        op.f("fk_operations_batch_id_operation_batches"),
        "operations",
        "operation_batches",
        ["batch_id"],
        ["id"],
        ondelete="SET NULL",
    )
    # Every index but the two unique ones holds only rows that use the control, so
    # operations without keys, parents or batches never pay for them.
    op.create_index(
        "uq_operations_dedup",
        "operations",
        ["tenant_id", "dedup_key"],
        unique=True,
        postgresql_where=sa.text(DEDUP_ACTIVE),
    )
    op.create_index(
        "uq_operations_coalesce",
        "operations",
        ["tenant_id", "coalesce_key"],
        unique=True,
        postgresql_where=sa.text(COALESCE_OPEN),
    )
    op.create_index(
        "ix_operations_processing_key",
        "operations",
        ["tenant_id", "concurrency_key"],
        unique=False,
        postgresql_where=sa.text(PROCESSING_KEY),
    )
    op.create_index(
        "ix_operations_batch_id",
        "operations",
        ["batch_id", "id"],
        unique=False,
        postgresql_where=sa.text("batch_id IS NOT NULL"),
    )
    op.create_index(
        "ix_operations_parent_id",
        "operations",
        ["parent_id", "id"],
        unique=False,
        postgresql_where=sa.text("parent_id IS NOT NULL"),
    )
    # Bulk inserts (batches) should also prompt a vacuum, which keeps the visibility
    # map current for index-only scans; 0001 already tunes the update-driven vacuum.
    op.execute(
        "ALTER TABLE operations SET (autovacuum_vacuum_insert_scale_factor = 0.02, "
        "autovacuum_vacuum_insert_threshold = 10000)"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE operations RESET (autovacuum_vacuum_insert_scale_factor, "
        "autovacuum_vacuum_insert_threshold)"
    )
    op.drop_index(
        "ix_operations_parent_id",
        table_name="operations",
        postgresql_where=sa.text("parent_id IS NOT NULL"),
    )
    op.drop_index(
        "ix_operations_batch_id",
        table_name="operations",
        postgresql_where=sa.text("batch_id IS NOT NULL"),
    )
    op.drop_index(
        "ix_operations_processing_key",
        table_name="operations",
        postgresql_where=sa.text(PROCESSING_KEY),
    )
    op.drop_index(
        "uq_operations_coalesce", table_name="operations", postgresql_where=sa.text(COALESCE_OPEN)
    )
    op.drop_index(
        "uq_operations_dedup", table_name="operations", postgresql_where=sa.text(DEDUP_ACTIVE)
    )
    op.drop_constraint(
        op.f("fk_operations_batch_id_operation_batches"), "operations", type_="foreignkey"
    )
    op.drop_constraint(op.f("fk_operations_parent_id_operations"), "operations", type_="foreignkey")
    op.drop_constraint(op.f("ck_operations_concurrency_limit"), "operations", type_="check")
    for column in (
        "retention",
        "batch_id",
        "parent_id",
        "concurrency_limit",
        "concurrency_key",
        "coalesce_key",
        "dedup_key",
    ):
        op.drop_column("operations", column)
    op.drop_index("ix_operation_batches_tenant_id", table_name="operation_batches")
    op.drop_table("operation_batches")
