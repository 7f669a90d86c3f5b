"""Exceptions every app shares."""


class DomainError(Exception):
    """A business rule refused an action; the message is safe to show a user."""


class IllegalTransition(DomainError):
    """A state machine refused a transition (views answer 409)."""
