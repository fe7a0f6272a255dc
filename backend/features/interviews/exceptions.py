"""Errors of practice interviews, each with a stable code clients can rely on."""

from __future__ import annotations

from backend.errors import AppError, Conflict, NotFound


class SessionNotFound(NotFound):
    code = "SESSION_NOT_FOUND"
    title = "Session not found"

    def __init__(self) -> None:
        # Another principal's session is not found either: its existence is not revealed.
        super().__init__(
            "No practice session with this id belongs to you. Sessions are visible only to "
            "the API key's principal that created them."
        )


class SessionNotCompleted(AppError):
    status = 400
    code = "SESSION_NOT_COMPLETED"
    title = "Session not completed"

    def __init__(self) -> None:
        super().__init__(
            "Feedback is given on completed sessions only. Complete the session (POST to "
            "its /complete link) once every answer is in, then ask again."
        )


class SessionHasNoTurns(AppError):
    status = 400
    code = "SESSION_HAS_NO_TURNS"
    title = "Session has no turns"

    def __init__(self) -> None:
        super().__init__(
            "A session without any question and answer cannot be completed. Add turns "
            "(POST to its /turns link) first."
        )


class SessionAlreadyCompleted(Conflict):
    code = "SESSION_ALREADY_COMPLETED"
    title = "Session already completed"

    def __init__(self) -> None:
        super().__init__(
            "This session is already completed: it takes no more turns and cannot be "
            "completed again. Start a new session to practise more."
        )


class TurnLimitReached(Conflict):
    code = "TURN_LIMIT_REACHED"
    title = "Turn limit reached"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"A session holds at most {limit} turns. Complete this session and start a new "
            "one to practise more questions."
        )


class FeedbackAlreadyExists(Conflict):
    code = "FEEDBACK_ALREADY_EXISTS"
    title = "Feedback already exists"

    def __init__(self) -> None:
        super().__init__(
            "Feedback on this session was already generated, and a session has one. Read "
            "it at the session's /feedback link."
        )


class FeedbackNotFound(NotFound):
    code = "FEEDBACK_NOT_FOUND"
    title = "Feedback not found"

    def __init__(self) -> None:
        super().__init__(
            "This session has no feedback yet. Ask for it (POST to its /generate-feedback "
            "link) and follow the operation until it is completed."
        )
