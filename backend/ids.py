"""Time-ordered UUIDv7 ids: keyset pagination and index locality stay cheap."""

import uuid

import uuid_utils.compat


def new_id() -> uuid.UUID:
    return uuid_utils.compat.uuid7()
