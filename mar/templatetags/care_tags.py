"""`{{ mapping|get:key }}`: the chart's per-order / per-administration / per-site care data."""

from typing import Any

from django import template

register = template.Library()


@register.filter
def get(mapping: dict[Any, Any] | None, key: Any) -> Any:
    return (mapping or {}).get(key)
