"""A real SMTP server for the mail tests: aiosmtpd on a free loopback port, and
the settings that point Django's SMTP backend at it."""

import email
import email.policy
import socket
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller


@dataclass
class Inbox:
    """What the server accepted, as parsed messages; `refuse` makes it answer
    every DATA with a permanent error instead."""

    received: list = field(default_factory=list)
    refuse: bool = False
    refused: int = 0

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            self.refused += 1
            return "554 5.7.1 Message refused by the test server"
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append(parsed)
        return "250 OK"

    def to(self, address: str) -> list:
        return [m for m in self.received if address in m["To"]]

    @staticmethod
    def parts(message) -> tuple[str, str]:
        """(plain text, HTML) of a received message."""
        text = message.get_body(preferencelist=("plain",)).get_content()
        html = message.get_body(preferencelist=("html",)).get_content()
        return text, html


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def smtp_server(settings):
    """Start the server, point EMAIL_* at it (sending inline, after commit), and
    yield its Inbox; stopped on exit."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.MESSAGES_DELIVERY = "inline"
    settings.MESSAGES_DISABLED = []
    try:
        yield inbox
    finally:
        controller.stop()
