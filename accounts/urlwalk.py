"""Walks the URLconf: every routed view with its namespaced name and route."""

from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver


@dataclass(frozen=True)
class RoutedView:
    view_name: str  # "ns:name", or "ns:<dotted view path>" for an unnamed pattern
    route: str  # "/account/login/"
    named: bool


def _view_path(pattern: URLPattern) -> str:
    callback = pattern.callback
    name = getattr(callback, "__qualname__", callback.__class__.__name__)
    return f"{callback.__module__}.{name}"


def iter_routed_views(patterns=None, namespaces=(), prefix="/"):
    if patterns is None:
        patterns = get_resolver().url_patterns
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            ns = (*namespaces, pattern.namespace) if pattern.namespace else namespaces
            yield from iter_routed_views(
                pattern.url_patterns, ns, prefix + str(pattern.pattern)
            )
        else:
            name = pattern.name or _view_path(pattern)
            yield RoutedView(
                view_name=":".join((*namespaces, name)),
                route=prefix + str(pattern.pattern),
                named=pattern.name is not None,
            )
