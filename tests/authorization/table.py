"""The authorization matrix as data: every route of the API, every kind of caller, and
the exact answer each one gets. tests/authorization/test_matrix.py sends each request;
docs/authorization.md shows the same table, rendered by ``render`` (regenerate it with
``python -m tests.authorization.table``).

Who owns what in the owner tenant: the admin key creates people, evaluations and
webhook endpoints; the member key creates review cycles, interview sessions, documents
and operations, and is linked to the person the reports, cycles and evaluation
summaries are about. The viewer key is linked to nobody. The other tenant's key is an
admin of its own tenant, so only the tenant boundary stands between it and the rows.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


class Credential(enum.StrEnum):
    """What a request presents."""

    no_key = "no key"
    revoked_key = "revoked key"
    other_tenant = "other tenant"
    viewer = "viewer"
    member = "member"
    admin = "admin"
    # Invitation links: the token in the path is the credential.
    valid_token = "valid token"
    unknown_token = "unknown token"
    revoked_invitation = "revoked invitation"
    expired_invitation = "expired invitation"
    used_invitation = "used invitation"


API_KEYS = (
    Credential.no_key,
    Credential.revoked_key,
    Credential.other_tenant,
    Credential.viewer,
    Credential.member,
    Credential.admin,
)
INVITATIONS = (
    Credential.valid_token,
    Credential.unknown_token,
    Credential.revoked_invitation,
    Credential.expired_invitation,
    Credential.used_invitation,
)
PUBLIC = (Credential.no_key, Credential.revoked_key)


@dataclass(frozen=True)
class Outcome:
    """An answer: its status and, for an error, its problem `code`."""

    status: int
    code: str | None = None

    def __str__(self) -> str:
        return f"{self.status} {self.code}" if self.code else str(self.status)


OK = Outcome(200)
CREATED = Outcome(201)
ACCEPTED = Outcome(202)
NO_CONTENT = Outcome(204)
UNAUTHENTICATED = Outcome(401, "NOT_AUTHENTICATED")
READ_ONLY = Outcome(403, "READ_ONLY_CALLER")
ADMIN_ONLY = Outcome(403, "ADMIN_REQUIRED")


def missing(code: str) -> Outcome:
    return Outcome(404, code)


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    outcomes: Mapping[Credential, Outcome]
    note: str = ""
    family: tuple[Credential, ...] = field(default=API_KEYS)

    @property
    def route(self) -> tuple[str, str]:
        return self.method, self.path


def keyed(
    method: str,
    path: str,
    other: Outcome,
    viewer: Outcome,
    member: Outcome,
    admin: Outcome,
    note: str = "",
) -> Row:
    """A route behind an API key: no key and a revoked key are 401 everywhere."""
    outcomes = {
        Credential.no_key: UNAUTHENTICATED,
        Credential.revoked_key: UNAUTHENTICATED,
        Credential.other_tenant: other,
        Credential.viewer: viewer,
        Credential.member: member,
        Credential.admin: admin,
    }
    return Row(method, path, outcomes, note)


def public(method: str, path: str, note: str = "") -> Row:
    """A route open to anyone: credentials are ignored, even revoked ones."""
    return Row(method, path, dict.fromkeys(PUBLIC, OK), note, PUBLIC)


def invitation(method: str, path: str, valid: Outcome, used: Outcome, note: str = "") -> Row:
    outcomes = {
        Credential.valid_token: valid,
        Credential.unknown_token: missing("INVITATION_NOT_FOUND"),
        Credential.revoked_invitation: Outcome(410, "INVITATION_REVOKED"),
        Credential.expired_invitation: Outcome(410, "INVITATION_EXPIRED"),
        Credential.used_invitation: used,
    }
    return Row(method, path, outcomes, note, INVITATIONS)


OP = missing("OPERATION_NOT_FOUND")
HOOK = missing("WEBHOOK_ENDPOINT_NOT_FOUND")
SESSION = missing("SESSION_NOT_FOUND")
PERSON = missing("PERSON_NOT_FOUND")
CYCLE = missing("CYCLE_NOT_FOUND")
EVALUATION = missing("EVALUATION_NOT_FOUND")
STUDENT = missing("STUDENT_NOT_FOUND")
DOCUMENT = missing("DOCUMENT_NOT_FOUND")

V1 = "/api/v1"
OPS = f"{V1}/operations"
HOOKS = f"{V1}/webhook-endpoints"
SESSIONS = f"{V1}/sessions"
PEOPLE = f"{V1}/people"
CYCLES = f"{V1}/cycles"
EVALUATIONS = f"{V1}/evaluations"
EVALUATION_PATH = f"{EVALUATIONS}/{{evaluation_id}}"
STUDENT_PATH = f"{EVALUATION_PATH}/students/{{student_id}}"
SESSION_PATH = f"{SESSIONS}/{{session_id}}"
DOCUMENTS = f"{V1}/documents"

OWN_ONLY = "only its creator's (the member's), not even an admin's"
MANAGED = "its creator (the member) and admins manage it"
LIST = "a list: the other tenant gets its own rows, none of the owner's"
CREATE = "the other tenant creates in its own tenant"

TABLE: tuple[Row, ...] = (
    # Operations: the tenant's, whoever started them.
    keyed("GET", f"{OPS}/{{operation_id}}", OP, OK, OK, OK),
    keyed("DELETE", f"{OPS}/{{operation_id}}", OP, READ_ONLY, NO_CONTENT, NO_CONTENT),
    keyed("GET", OPS, OK, OK, OK, OK, LIST),
    keyed("GET", f"{OPS}/{{operation_id}}/wait", OP, OK, OK, OK),
    keyed("POST", f"{OPS}/{{operation_id}}/cancel", OP, READ_ONLY, OK, OK),
    keyed("GET", f"{OPS}/{{operation_id}}/events", OP, OK, OK, OK),
    keyed("GET", f"{V1}/batches/{{batch_id}}", missing("BATCH_NOT_FOUND"), OK, OK, OK),
    # Webhook endpoints: anyone reads them, admins change them.
    keyed("POST", HOOKS, CREATED, ADMIN_ONLY, ADMIN_ONLY, CREATED, CREATE),
    keyed("GET", HOOKS, OK, OK, OK, OK, LIST),
    keyed("GET", f"{HOOKS}/{{endpoint_id}}", HOOK, OK, OK, OK),
    keyed("PATCH", f"{HOOKS}/{{endpoint_id}}", HOOK, ADMIN_ONLY, ADMIN_ONLY, OK),
    keyed("DELETE", f"{HOOKS}/{{endpoint_id}}", HOOK, ADMIN_ONLY, ADMIN_ONLY, NO_CONTENT),
    keyed("POST", f"{HOOKS}/{{endpoint_id}}/rotate-secret", HOOK, ADMIN_ONLY, ADMIN_ONLY, OK),
    keyed("GET", f"{HOOKS}/{{endpoint_id}}/deliveries", HOOK, OK, OK, OK),
    keyed("GET", f"{V1}/usage", OK, OK, OK, OK, "the other tenant sees its own usage only"),
    # Interview sessions: personal.
    keyed("POST", SESSIONS, CREATED, READ_ONLY, CREATED, CREATED, CREATE),
    keyed("GET", f"{SESSION_PATH}", SESSION, SESSION, OK, SESSION, OWN_ONLY),
    keyed("POST", f"{SESSION_PATH}/turns", SESSION, READ_ONLY, CREATED, SESSION),
    keyed("POST", f"{SESSION_PATH}/complete", SESSION, READ_ONLY, OK, SESSION),
    keyed("POST", f"{SESSION_PATH}/generate-feedback", SESSION, READ_ONLY, ACCEPTED, SESSION),
    keyed("GET", f"{SESSION_PATH}/feedback", SESSION, SESSION, OK, SESSION, OWN_ONLY),
    # People: admins only; reports: admins, viewers, and a member linked to the person.
    keyed("POST", PEOPLE, CREATED, ADMIN_ONLY, ADMIN_ONLY, CREATED, CREATE),
    keyed("GET", PEOPLE, OK, ADMIN_ONLY, ADMIN_ONLY, OK, LIST),
    keyed("GET", f"{PEOPLE}/{{person_id}}", PERSON, ADMIN_ONLY, ADMIN_ONLY, OK),
    keyed("POST", f"{PEOPLE}/{{person_id}}/principals", PERSON, ADMIN_ONLY, ADMIN_ONLY, OK),
    keyed(
        "DELETE",
        f"{PEOPLE}/{{person_id}}/principals/{{principal_id}}",
        PERSON,
        ADMIN_ONLY,
        ADMIN_ONLY,
        NO_CONTENT,
    ),
    keyed(
        "GET",
        f"{PEOPLE}/{{person_id}}/reports/{{period}}",
        PERSON,
        OK,
        OK,
        OK,
        "a cached report; a viewer never starts a generation",
    ),
    # Review cycles: managed by their creator and the tenant's admins.
    keyed("POST", CYCLES, PERSON, READ_ONLY, CREATED, CREATED, "names the owner's person"),
    keyed("GET", f"{CYCLES}/{{cycle_id}}", CYCLE, CYCLE, OK, OK, MANAGED),
    keyed("POST", f"{CYCLES}/{{cycle_id}}/reviewers", CYCLE, READ_ONLY, CREATED, CREATED),
    keyed(
        "POST", f"{CYCLES}/{{cycle_id}}/reviewers/{{reviewer_id}}/revoke", CYCLE, READ_ONLY, OK, OK
    ),
    keyed("GET", f"{CYCLES}/{{cycle_id}}/summary", CYCLE, CYCLE, OK, OK, MANAGED),
    keyed("POST", f"{CYCLES}/{{cycle_id}}/summary/generate", CYCLE, READ_ONLY, ACCEPTED, ACCEPTED),
    keyed("POST", f"{CYCLES}/{{cycle_id}}/summary/finalise", CYCLE, READ_ONLY, OK, OK),
    keyed("POST", f"{CYCLES}/{{cycle_id}}/summary/reopen", CYCLE, READ_ONLY, OK, OK),
    # Reviewers: the token of their link, no API key.
    invitation("GET", f"{V1}/reviews/{{token}}", OK, OK, "a used link still opens"),
    invitation(
        "POST", f"{V1}/reviews/{{token}}", CREATED, Outcome(409, "REVIEW_ALREADY_SUBMITTED")
    ),
    # Evaluations: teachers (admins) manage; a student reads their own summary.
    keyed("POST", EVALUATIONS, CREATED, ADMIN_ONLY, ADMIN_ONLY, CREATED, CREATE),
    keyed("GET", f"{EVALUATION_PATH}", EVALUATION, ADMIN_ONLY, ADMIN_ONLY, OK),
    keyed("POST", f"{EVALUATION_PATH}/students", EVALUATION, ADMIN_ONLY, ADMIN_ONLY, CREATED),
    keyed("POST", f"{EVALUATION_PATH}/feedback", EVALUATION, ADMIN_ONLY, ADMIN_ONLY, CREATED),
    keyed("POST", f"{STUDENT_PATH}/summary/generate", EVALUATION, ADMIN_ONLY, ADMIN_ONLY, ACCEPTED),
    keyed(
        "POST",
        f"{EVALUATION_PATH}/summaries/generate",
        EVALUATION,
        ADMIN_ONLY,
        ADMIN_ONLY,
        ACCEPTED,
    ),
    keyed("GET", f"{EVALUATION_PATH}/operations", EVALUATION, ADMIN_ONLY, ADMIN_ONLY, OK),
    keyed(
        "GET",
        f"{STUDENT_PATH}/summary",
        EVALUATION,
        STUDENT,
        OK,
        OK,
        "the member is linked to the student; the viewer to nobody",
    ),
    keyed("GET", f"{STUDENT_PATH}/quotes", EVALUATION, STUDENT, OK, OK),
    # Documents: the tenant's.
    keyed("POST", DOCUMENTS, ACCEPTED, READ_ONLY, ACCEPTED, ACCEPTED, CREATE),
    keyed("GET", f"{DOCUMENTS}/{{document_id}}", DOCUMENT, OK, OK, OK),
    keyed("DELETE", f"{DOCUMENTS}/{{document_id}}", DOCUMENT, READ_ONLY, NO_CONTENT, NO_CONTENT),
    keyed("GET", f"{DOCUMENTS}/{{document_id}}/text", DOCUMENT, OK, OK, OK),
    keyed("GET", f"{DOCUMENTS}/{{document_id}}/file", DOCUMENT, OK, OK, OK),
    keyed("GET", f"{DOCUMENTS}/{{document_id}}/events", DOCUMENT, OK, OK, OK),
    keyed("POST", f"{DOCUMENTS}/{{document_id}}/extract", DOCUMENT, READ_ONLY, ACCEPTED, ACCEPTED),
    keyed("POST", f"{DOCUMENTS}/{{document_id}}/metadata", DOCUMENT, READ_ONLY, ACCEPTED, ACCEPTED),
    # Open to anyone.
    public("GET", "/healthz"),
    public("GET", "/readyz"),
    public("GET", "/openapi.json"),
    public("GET", "/docs"),
    public("GET", "/docs/oauth2-redirect"),
    public("GET", "/redoc"),
)

FAMILIES: tuple[tuple[str, tuple[Credential, ...]], ...] = (
    ("API key routes", API_KEYS),
    ("Invitation links", INVITATIONS),
    ("Public routes", PUBLIC),
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "authorization.md"
BEGIN = "<!-- matrix: generated from tests/authorization/table.py -->"
END = "<!-- end of matrix -->"


def render(rows: tuple[Row, ...] = TABLE) -> str:
    """The matrix as Markdown tables, one per kind of credential."""
    parts: list[str] = []
    for title, family in FAMILIES:
        chosen = [row for row in rows if row.family == family]
        header = ["route", *(str(c) for c in family), "note"]
        lines = [f"### {title}", "", _line(header), _line(["---"] * len(header))]
        for row in chosen:
            cells = [f"`{row.method} {row.path}`", *(str(row.outcomes[c]) for c in family)]
            lines.append(_line([*cells, row.note]))
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def documented(text: str) -> str:
    """The generated part of docs/authorization.md."""
    start = text.index(BEGIN) + len(BEGIN)
    return text[start : text.index(END)].strip()


def write_doc(path: Path = DOC) -> None:
    """Put the current matrix between the markers of docs/authorization.md."""
    text = path.read_text()
    start = text.index(BEGIN) + len(BEGIN)
    path.write_text(f"{text[:start]}\n\n{render()}\n\n{text[text.index(END) :]}")


if __name__ == "__main__":
    write_doc()
    sys.stdout.write(f"wrote {DOC}\n")
