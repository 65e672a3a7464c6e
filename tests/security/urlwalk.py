"""Every URL pattern of the app, from the resolver, with sample arguments that resolve.

Shared by the permission walk, the CSRF check and the bad-input fuzz, so a screen added later is
covered by all three the moment it is routed (and the walk fails until its row is written).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

_PARAM = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")


@dataclass(frozen=True)
class Route:
    name: str  # "mar:adm_stop"; admin routes keep their own names
    route: str  # "mar/encounters/<int:pk>/administrations/<int:adm_pk>/stop/"
    params: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return self.route.startswith("admin/")

    def path(self, values: dict[str, object]) -> str:
        return "/" + _PARAM.sub(lambda m: str(values[m.group("name")]), self.route)


def _walk(patterns: list[object], prefix: str, namespace: str | None) -> Iterator[Route]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = pattern.namespace or namespace
            if pattern.namespace and namespace and pattern.namespace != namespace:
                inner = f"{namespace}:{pattern.namespace}"
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            route = prefix + str(pattern.pattern)
            if route.startswith("^") or "(?P" in route:
                # A regex route (the admin's app index): give it the name of its only argument.
                route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", route).strip("^$").replace("\\", "")
            name = f"{namespace}:{pattern.name}" if namespace else (pattern.name or route)
            params = tuple(m.group("name") for m in _PARAM.finditer(route))
            yield Route(name=name, route=route, params=params)


def app_routes() -> list[Route]:
    return list(_walk(get_resolver().url_patterns, "", None))
