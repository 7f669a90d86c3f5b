"""Carriers and tracking links: settings.CARRIERS maps a carrier to its name and URL.

One place says what a carrier is called, which carriers ops may choose, and where a
parcel is tracked; the ops order page, the packing slip and the customer's order
page all ask here.
"""

from urllib.parse import quote

from django.conf import settings


def carrier_choices() -> list[tuple[str, str]]:
    return [("", "No carrier")] + [
        (key, name) for key, (name, _url) in settings.CARRIERS.items()
    ]


def carrier_name(key: str) -> str:
    entry = settings.CARRIERS.get(key)
    return entry[0] if entry else key


def tracking_url(*, carrier: str, reference: str) -> str:
    """The carrier's page for this parcel, or "" (no carrier, no reference, or a
    carrier without a URL). The reference is quoted into the URL, never trusted."""
    entry = settings.CARRIERS.get(carrier)
    if not entry or not reference:
        return ""
    return entry[1].format(reference=quote(reference, safe=""))
