"""The real Stripe payloads in ../shared/stripe_events, for the tests that read them.

Outside CI a checkout without shared/ beside it skips those tests; with CI=true they
fail instead, so a CI run that lost the corpus cannot pass by testing nothing.
"""

import functools
import os
from pathlib import Path

import pytest
from django.conf import settings

CORPUS = Path(settings.BASE_DIR).parent / "shared" / "stripe_events"
# The event samples are named `<type>__<source>.json`; index and vectors are not.
FILES = sorted(CORPUS.glob("*__*.json")) if CORPUS.exists() else []
MISSING = f"{CORPUS} is missing: put shared/ beside the repository"


def needs_corpus(test):
    """Run `test` when the corpus is there; else skip it, or fail it under CI."""
    if FILES:
        return test
    if os.environ.get("CI") == "true":

        @functools.wraps(test)
        def missing(*args, **kwargs):
            pytest.fail(f"{MISSING} (CI=true: the corpus is required)")

        return missing
    return pytest.mark.skip(reason=MISSING)(test)
