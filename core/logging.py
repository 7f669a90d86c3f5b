import logging

from core.request_context import current_request_id


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every log record."""

    def filter(self, record):
        record.request_id = current_request_id()
        return True
