"""delivery: operation events, idempotency keys, webhooks

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 08:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TERMINAL = "('completed', 'failed', 'cancelled')"

# Every statement that changes an operation bumps its version by one (its creation
# is version 1), so the event of each change is numbered by the version it produced:
# per operation, gap-free, in the writer's own transaction. A handler's emitted event
# inserts its own row in the same statement as its version bump (see
# backend/operations/event_store.py); this trigger runs at the end of that statement
# and leaves the row alone (ON CONFLICT DO NOTHING).
RECORD_EVENT = f"""
CREATE FUNCTION operations_record_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO operation_events (operation_id, seq, type, data)
    VALUES (
        NEW.id,
        NEW.version,
        CASE
            WHEN TG_OP = 'INSERT' THEN 'created'
            WHEN NEW.status IS DISTINCT FROM OLD.status THEN 'status'
            WHEN NEW.progress IS DISTINCT FROM OLD.progress THEN 'progress'
            WHEN NEW.cancel_requested IS DISTINCT FROM OLD.cancel_requested
                THEN 'cancel_requested'
            ELSE 'updated'
        END,
        jsonb_build_object(
            'status', NEW.status,
            'done', NEW.status IN {TERMINAL},
            'attempt', NEW.attempt,
            'progress', NEW.progress,
            'cancel_requested', NEW.cancel_requested,
            'error', NEW.error,
            'result', CASE WHEN NEW.status = 'completed' THEN NEW.result END
        )
    )
    ON CONFLICT (operation_id, seq) DO NOTHING;
    RETURN NULL;
END
$$;
"""

# UTC timestamps in the shape the API renders them.
UTC_TEXT = """
CREATE FUNCTION opsapi_utc_text(moment timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(moment AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;
"""

# A finished operation of a tenant with a subscribed endpoint leaves a row in the
# outbox, in the transaction that finished it: a rollback leaves nothing to deliver.
# The maintenance leader turns outbox rows into webhook.deliver operations. Deliveries
# themselves never produce webhooks.
QUEUE_WEBHOOKS = """
CREATE FUNCTION operations_queue_webhooks() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind <> 'webhook.deliver' AND EXISTS (
        SELECT 1 FROM webhook_endpoints e
        WHERE e.tenant_id = NEW.tenant_id AND e.enabled
          AND 'operation.' || NEW.status = ANY (e.event_types)
    ) THEN
        INSERT INTO webhook_outbox (tenant_id, operation_id, seq, event_type, payload)
        VALUES (
            NEW.tenant_id, NEW.id, NEW.version, 'operation.' || NEW.status,
            jsonb_build_object(
                'id', NEW.id,
                'kind', NEW.kind,
                'status', NEW.status,
                'done', true,
                'target', NEW.target,
                'result', CASE WHEN NEW.status = 'completed' THEN NEW.result END,
                'error', NEW.error,
                'attempt', NEW.attempt,
                'max_attempts', NEW.max_attempts,
                'created_at', opsapi_utc_text(NEW.created_at),
                'started_at', opsapi_utc_text(NEW.started_at),
                'finished_at', opsapi_utc_text(NEW.finished_at)
            )
        );
    END IF;
    RETURN NULL;
END
$$;
"""


def _timestamp(name: str, *, default: bool = False) -> sa.Column[object]:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        server_default=sa.text("now()") if default else None,
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "operation_events",
        sa.Column("operation_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        _timestamp("created_at", default=True),
        sa.ForeignKeyConstraint(
            ["operation_id"],
            ["operations.id"],
            name=op.f("fk_operation_events_operation_id_operations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("operation_id", "seq", name=op.f("pk_operation_events")),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("principal_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_method", sa.String(length=10), nullable=False),
        sa.Column("request_path", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("claim_id", sa.Uuid(), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_headers", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        _timestamp("locked_until"),
        _timestamp("created_at", default=True),
        _timestamp("expires_at"),
        sa.CheckConstraint(
            "state IN ('in_flight', 'completed')", name=op.f("ck_idempotency_keys_state")
        ),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_idempotency_keys_principal_id_principals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_idempotency_keys_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "principal_id", "key", name=op.f("pk_idempotency_keys")
        ),
    )
    op.create_index(
        "ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"], unique=False
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("event_types", postgresql.ARRAY(sa.String(length=50)), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("previous_secret", sa.String(length=100), nullable=True),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        _timestamp("created_at", default=True),
        _timestamp("updated_at", default=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_webhook_endpoints_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_index(
        "ix_webhook_endpoints_tenant_id", "webhook_endpoints", ["tenant_id", "id"], unique=False
    )
    op.create_table(
        "webhook_outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("operation_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=50), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        _timestamp("created_at", default=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_webhook_outbox_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_outbox")),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("endpoint_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.String(length=100), nullable=False),
        sa.Column("event_type", sa.String(length=50), nullable=False),
        sa.Column("operation_id", sa.Uuid(), nullable=False),
        sa.Column("delivery_operation_id", sa.Uuid(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        _timestamp("created_at", default=True),
        _timestamp("expires_at"),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_deliveries_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(
        "ix_webhook_deliveries_endpoint_id",
        "webhook_deliveries",
        ["endpoint_id", "id"],
        unique=False,
    )
    op.create_index(
        "ix_webhook_deliveries_expires_at", "webhook_deliveries", ["expires_at"], unique=False
    )

    op.execute(RECORD_EVENT)
    op.execute(
        "CREATE TRIGGER operations_record_created AFTER INSERT ON operations "
        "FOR EACH ROW EXECUTE FUNCTION operations_record_event()"
    )
    op.execute(
        "CREATE TRIGGER operations_record_changed AFTER UPDATE ON operations "
        "FOR EACH ROW WHEN (OLD.version IS DISTINCT FROM NEW.version) "
        "EXECUTE FUNCTION operations_record_event()"
    )
    op.execute(UTC_TEXT)
    op.execute(QUEUE_WEBHOOKS)
    op.execute(
        "CREATE TRIGGER operations_queue_webhooks AFTER UPDATE OF status ON operations "
        f"FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.status IN {TERMINAL}) "
        "EXECUTE FUNCTION operations_queue_webhooks()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS operations_queue_webhooks ON operations")
    op.execute("DROP FUNCTION IF EXISTS operations_queue_webhooks()")
    op.execute("DROP FUNCTION IF EXISTS opsapi_utc_text(timestamptz)")
    op.execute("DROP TRIGGER IF EXISTS operations_record_changed ON operations")
    op.execute("DROP TRIGGER IF EXISTS operations_record_created ON operations")
    op.execute("DROP FUNCTION IF EXISTS operations_record_event()")
    op.drop_index("ix_webhook_deliveries_expires_at", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_endpoint_id", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_outbox")
    op.drop_index("ix_webhook_endpoints_tenant_id", table_name="webhook_endpoints")
    op.drop_table("webhook_endpoints")
    op.drop_index("ix_idempotency_keys_expires_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_table("operation_events")
