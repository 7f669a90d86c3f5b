"""No network call inside a database transaction (ARCHITECTURE.md, money path 7).

Every method of the gateway interface runs `refuse_inside_transaction` first, on
the real gateway and the offline one alike, so a test that pays offline catches a
call that production would make while holding a transaction (and its row locks)
open across a round trip to Stripe.
"""

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import connections

P = ParamSpec("P")
R = TypeVar("R")


class NetworkCallInTransaction(RuntimeError):
    """A gateway call was made while a database transaction of ours was open."""


def open_transaction() -> str | None:
    """The alias of a database with a transaction of ours open, or None.

    The atomic blocks that Django's TestCase (and so pytest-django's `django_db`)
    opens around a test are not ours: Django marks them `_from_testcase`, and its
    own check for a nested `atomic(durable=True)` passes over them the same way,
    so code under test meets the guard as it would in production.
    """
    for connection in connections.all(initialized_only=True):
        if connection.in_atomic_block and any(
            not block._from_testcase for block in connection.atomic_blocks
        ):
            return connection.alias
    return None


def refuse_inside_transaction(*, call: str) -> None:
    """Raise NetworkCallInTransaction if a transaction of ours is open."""
    alias = open_transaction()
    if alias is not None:
        raise NetworkCallInTransaction(
            f"{call} calls Stripe inside a database transaction (on {alias!r}). "
            "Record the intent in a short transaction, call Stripe after it "
            "commits, then apply the answer in another."
        )


def network_call(method: Callable[P, R]) -> Callable[P, R]:
    """Mark a gateway method that reaches Stripe: it refuses to run inside a
    transaction of ours."""

    @functools.wraps(method)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        refuse_inside_transaction(call=method.__qualname__)
        return method(*args, **kwargs)

    return guarded
