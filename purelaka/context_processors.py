"""Context the project itself adds to every page (core cannot import purelaka)."""

from purelaka import __version__


def app_version(request):
    """The running release (`purelaka.__version__`), for the footer."""
    return {"app_version": __version__}
