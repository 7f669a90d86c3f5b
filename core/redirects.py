from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request) -> str:
    """The form's `next` when it is a URL of this site, else ''."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


def redirect_back(request, fallback, *args, **kwargs):
    """Redirect to the form's `next` when it is a URL of this site, else `fallback`."""
    if target := safe_next(request):
        return redirect(target)
    return redirect(fallback, *args, **kwargs)
