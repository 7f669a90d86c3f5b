from dataclasses import dataclass, field


class NotYet(Exception):
    """The event cannot apply before the Stripe object `awaiting` is known."""

    def __init__(self, awaiting: str):
        self.awaiting = awaiting
        super().__init__(f"waiting for {awaiting}")


@dataclass
class Woken:
    """Applied; events waiting for these Stripe ids can now apply too."""

    ids: list[str] = field(default_factory=list)
