from django.conf import settings

# The project package, read like a setting: the one place the version is written.
from purelaka import __version__


def store(request):
    return {
        "STORE_CURRENCY": settings.STORE_CURRENCY,
        "STOCK_RESERVATION_MINUTES": settings.STOCK_RESERVATION_MINUTES,
    }


def app_version(request):
    """The running release (`purelaka.__version__`), for the footer."""
    return {"app_version": __version__}
