"""Imports every model so the metadata is complete (for Alembic and the schema check)."""


def import_all_models() -> None:
    import backend.auth.models  # noqa: F401
    import backend.features.documents.models  # noqa: F401
    import backend.features.feedback.models  # noqa: F401
    import backend.features.interviews.models  # noqa: F401
    import backend.features.reports.models  # noqa: F401
    import backend.llm.models  # noqa: F401
    import backend.operations.delivery_models  # noqa: F401
    import backend.operations.models  # noqa: F401
