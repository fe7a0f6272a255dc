"""feedback: people and the principals acting as them; review cycles, reviewers,
reviews and cycle summaries; evaluations, students, peer feedback, student summaries
and the evaluations' operations

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-23 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_people_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people")),
    )
    op.create_index("ix_people_tenant_id", "people", ["tenant_id", "id"], unique=False)
    op.create_index(
        "uq_people_external_id",
        "people",
        ["tenant_id", "external_id"],
        unique=True,
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("criteria", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["principals.id"],
            name=op.f("fk_evaluations_created_by_principals"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_evaluations_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluations")),
    )
    op.create_index("ix_evaluations_tenant_id", "evaluations", ["tenant_id", "id"], unique=False)
    op.create_table(
        "person_principals",
        sa.Column("principal_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_person_principals_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_person_principals_principal_id_principals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("principal_id", name=op.f("pk_person_principals")),
    )
    op.create_index(
        op.f("ix_person_principals_person_id"), "person_principals", ["person_id"], unique=False
    )
    op.create_table(
        "review_cycles",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("competencies", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("summary_operation_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["principals.id"],
            name=op.f("fk_review_cycles_created_by_principals"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_review_cycles_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_review_cycles_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_cycles")),
    )
    op.create_index(
        op.f("ix_review_cycles_person_id"), "review_cycles", ["person_id"], unique=False
    )
    op.create_index(
        "ix_review_cycles_tenant_id", "review_cycles", ["tenant_id", "id"], unique=False
    )
    op.create_table(
        "evaluation_students",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("evaluation_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["evaluation_id"],
            ["evaluations.id"],
            name=op.f("fk_evaluation_students_evaluation_id_evaluations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_evaluation_students_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_students")),
        sa.UniqueConstraint(
            "evaluation_id", "person_id", name=op.f("uq_evaluation_students_evaluation_id")
        ),
    )
    op.create_index(
        op.f("ix_evaluation_students_person_id"), "evaluation_students", ["person_id"], unique=False
    )
    op.create_table(
        "review_summaries",
        sa.Column("cycle_id", sa.Uuid(), nullable=False),
        sa.Column("content", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("weighting", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("review_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("review_count", sa.Integer(), nullable=False),
        sa.Column("operation_id", sa.Uuid(), nullable=False),
        sa.Column("finalised_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finalised_by", sa.Uuid(), nullable=True),
        sa.Column("provider", sa.String(length=50), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("prompt_name", sa.String(length=100), nullable=False),
        sa.Column("prompt_version", sa.Integer(), nullable=False),
        sa.Column("prompt_digest", sa.String(length=64), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["review_cycles.id"],
            name=op.f("fk_review_summaries_cycle_id_review_cycles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["finalised_by"],
            ["principals.id"],
            name=op.f("fk_review_summaries_finalised_by_principals"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("cycle_id", name=op.f("pk_review_summaries")),
    )
    op.create_table(
        "reviewers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("cycle_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("relationship", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "relationship IN ('manager', 'peer', 'direct_report', 'self', 'other')",
            name=op.f("ck_reviewers_relationship"),
        ),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["review_cycles.id"],
            name=op.f("fk_reviewers_cycle_id_review_cycles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviewers")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_reviewers_token_hash")),
    )
    op.create_index(op.f("ix_reviewers_cycle_id"), "reviewers", ["cycle_id"], unique=False)
    op.create_table(
        "evaluation_operations",
        sa.Column("operation_id", sa.Uuid(), nullable=False),
        sa.Column("evaluation_id", sa.Uuid(), nullable=False),
        sa.Column("student_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["evaluation_id"],
            ["evaluations.id"],
            name=op.f("fk_evaluation_operations_evaluation_id_evaluations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["operation_id"],
            ["operations.id"],
            name=op.f("fk_evaluation_operations_operation_id_operations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["evaluation_students.id"],
            name=op.f("fk_evaluation_operations_student_id_evaluation_students"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("operation_id", name=op.f("pk_evaluation_operations")),
    )
    op.create_index(
        "ix_evaluation_operations_evaluation_id",
        "evaluation_operations",
        ["evaluation_id", "operation_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_evaluation_operations_student_id"),
        "evaluation_operations",
        ["student_id"],
        unique=False,
    )
    op.create_table(
        "peer_feedback",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("evaluation_id", sa.Uuid(), nullable=False),
        sa.Column("from_student_id", sa.Uuid(), nullable=False),
        sa.Column("to_student_id", sa.Uuid(), nullable=False),
        sa.Column("scores", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "from_student_id <> to_student_id", name=op.f("ck_peer_feedback_not_self")
        ),
        sa.ForeignKeyConstraint(
            ["evaluation_id"],
            ["evaluations.id"],
            name=op.f("fk_peer_feedback_evaluation_id_evaluations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["from_student_id"],
            ["evaluation_students.id"],
            name=op.f("fk_peer_feedback_from_student_id_evaluation_students"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["to_student_id"],
            ["evaluation_students.id"],
            name=op.f("fk_peer_feedback_to_student_id_evaluation_students"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_peer_feedback")),
        sa.UniqueConstraint(
            "from_student_id", "to_student_id", name=op.f("uq_peer_feedback_from_student_id")
        ),
    )
    op.create_index(
        op.f("ix_peer_feedback_evaluation_id"), "peer_feedback", ["evaluation_id"], unique=False
    )
    op.create_index(
        op.f("ix_peer_feedback_to_student_id"), "peer_feedback", ["to_student_id"], unique=False
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("cycle_id", sa.Uuid(), nullable=False),
        sa.Column("reviewer_id", sa.Uuid(), nullable=False),
        sa.Column("ratings", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("strengths", sa.Text(), nullable=False),
        sa.Column("improvements", sa.Text(), nullable=False),
        sa.Column(
            "submitted_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["review_cycles.id"],
            name=op.f("fk_reviews_cycle_id_review_cycles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["reviewers.id"],
            name=op.f("fk_reviews_reviewer_id_reviewers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("reviewer_id", name=op.f("uq_reviews_reviewer_id")),
    )
    op.create_index(op.f("ix_reviews_cycle_id"), "reviews", ["cycle_id"], unique=False)
    op.create_table(
        "student_summaries",
        sa.Column("student_id", sa.Uuid(), nullable=False),
        sa.Column("content", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("scores", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("feedback_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("feedback_count", sa.Integer(), nullable=False),
        sa.Column("operation_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=50), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("prompt_name", sa.String(length=100), nullable=False),
        sa.Column("prompt_version", sa.Integer(), nullable=False),
        sa.Column("prompt_digest", sa.String(length=64), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["evaluation_students.id"],
            name=op.f("fk_student_summaries_student_id_evaluation_students"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("student_id", name=op.f("pk_student_summaries")),
    )


def downgrade() -> None:
    op.drop_table("student_summaries")
    op.drop_index(op.f("ix_reviews_cycle_id"), table_name="reviews")
    op.drop_table("reviews")
    op.drop_index(op.f("ix_peer_feedback_to_student_id"), table_name="peer_feedback")
    op.drop_index(op.f("ix_peer_feedback_evaluation_id"), table_name="peer_feedback")
    op.drop_table("peer_feedback")
    op.drop_index(op.f("ix_evaluation_operations_student_id"), table_name="evaluation_operations")
    op.drop_index("ix_evaluation_operations_evaluation_id", table_name="evaluation_operations")
    op.drop_table("evaluation_operations")
    op.drop_index(op.f("ix_reviewers_cycle_id"), table_name="reviewers")
    op.drop_table("reviewers")
    op.drop_table("review_summaries")
    op.drop_index(op.f("ix_evaluation_students_person_id"), table_name="evaluation_students")
    op.drop_table("evaluation_students")
    op.drop_index("ix_review_cycles_tenant_id", table_name="review_cycles")
    op.drop_index(op.f("ix_review_cycles_person_id"), table_name="review_cycles")
    op.drop_table("review_cycles")
    op.drop_index(op.f("ix_person_principals_person_id"), table_name="person_principals")
    op.drop_table("person_principals")
    op.drop_index("ix_evaluations_tenant_id", table_name="evaluations")
    op.drop_table("evaluations")
    op.drop_index(
        "uq_people_external_id",
        table_name="people",
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.drop_index("ix_people_tenant_id", table_name="people")
    op.drop_table("people")
