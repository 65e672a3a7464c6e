"""A form built only when something reads it (issue 19).

The chart's cards and order rows are kept drawn while what they show is unchanged
(mar/chart_cards.py); a kept one is not drawn, so its forms are never read. Each form of a card
or a row is made as `lazy(build)`: the form is built by `build()` at the first read of any of its
parts (a field, its errors, its initial values) and that one form is used from then on. A form
the nurse sent (bound, with her values and errors) is never lazy: it is built to be checked.

`built(form)` says whether a lazy form was read; `is_bound(form)` whether a form is bound,
without building a lazy one (a lazy form is never bound).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

from django.forms import Form

F = TypeVar("F", bound=Form)


class LazyForm:
    __slots__ = ("_build", "_form")

    def __init__(self, build: Callable[[], Form]) -> None:
        self._build = build
        self._form: Form | None = None

    def _made(self) -> Form:
        if self._form is None:
            self._form = self._build()
        return self._form

    def __getattr__(self, name: str) -> Any:
        return getattr(self._made(), name)

    def __getitem__(self, name: str) -> Any:
        return self._made()[name]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._made())

    def __len__(self) -> int:
        return len(self._made().fields)

    def __bool__(self) -> bool:
        return True

    def __str__(self) -> str:
        return str(self._made())

    def __html__(self) -> str:
        return str(self._made())


def lazy(build: Callable[[], F]) -> F:
    """`build()`'s form, built at its first read (typed as the form it stands for)."""
    return cast(F, LazyForm(build))


def built(form: object) -> bool:
    return not isinstance(form, LazyForm) or form._form is not None


def is_bound(form: object) -> bool:
    """Whether `form` is bound (what the nurse sent), a lazy one not built for the question."""
    if form is None or isinstance(form, LazyForm):
        return False
    return bool(getattr(form, "is_bound", False))


def sent_with_errors(form: object) -> bool:
    """`{{ form|sent_with_errors }}`: a form the nurse sent that has errors; a lazy form (not
    sent) is not built to answer, nor is an undefined one (no row's checks) read."""
    return is_bound(form) and bool(getattr(form, "errors", None))
