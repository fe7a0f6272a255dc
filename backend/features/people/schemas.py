"""People as clients see them."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Enough to catch a name or a typo sent as an email; delivery is not this service's job.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class PersonCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "Sam Rivera", "email": "sam@example.com", "external_id": "E-1042"}
            ]
        }
    )

    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320, pattern=EMAIL_PATTERN)
    external_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Your own id for the person (HR or school system); unique in the tenant.",
    )

    @field_validator("name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name must not be blank")
        return value.strip()


class PersonOut(BaseModel):
    id: uuid.UUID
    name: str = Field(examples=["Sam Rivera"])
    email: str | None
    external_id: str | None
    principal_ids: list[uuid.UUID] = Field(
        description="Principals (owners of API keys) that act as this person: they may read "
        "the summaries about them."
    )
    created_at: datetime


class PersonList(BaseModel):
    people: list[PersonOut]
    next_page_token: str | None = Field(
        default=None, description="Pass as page_token for the next page; null on the last page."
    )


class PrincipalLink(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"principal_id": "01936f0e-8f6b-7cc2-9b8e-2f4c1e7d5a10"}]}
    )

    principal_id: uuid.UUID = Field(
        description="A principal of your tenant (the `principal_id` printed by "
        "`opsapi admin create-key --json`)."
    )
