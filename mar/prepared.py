"""Reads whose SQL Django compiles once, not on every request (issue 19).

Django builds a queryset's SQL again every time it runs: for the chart's reads (administrations
with their drug, order, site and the two nurses joined; orders with three joins...) building and
compiling the SQL costs more than PostgreSQL takes to answer it (the administrations read of a
visit: 2.3 ms through the ORM, 1.0 ms with its SQL reused; benchmarks/README.md). A `@prepared`
read is a function of ids that builds an ordinary queryset:

    @prepared
    def chart_administrations(encounter_id: int) -> QuerySet[Administration]:
        return Administration.objects.filter(encounter_id=encounter_id).select_related("drug")

    adms = chart_administrations(encounter.pk, encounter=encounter)

An argument may also be a collection of codes (strings: the charge master's codes a page
prices), which is handled as a collection of ids is, with stand-in codes no row has.

The first call for a shape of arguments (which arguments are single ids and how many ids each
collection holds) builds the queryset twice with two sets of stand-in ids that no row has,
compiles both, and keeps the compiled statement only when both compiles give the same SQL, and
every parameter is either one of the stand-ins (so it is known which argument it is) or the same
constant in both (so nothing else, such as the clock, went into the query). A build that fails
the check is refused with an error: the function must be a pure function of its ids. Later calls
run the kept SQL with the call's ids put in the stand-ins' places and turn the rows into model
instances with Django's own code (the compiler's converters, `Model.from_db`, the related
populators of `select_related`, the annotations), then run the queryset's `prefetch_related`
through the ORM. The rows, their order and their types are the ORM's: tests/mar/test_prepared.py
holds every prepared read of the app to its queryset, row for row and field for field.

On PostgreSQL the kept SQL also runs as a server-side prepared statement (`execute_prepared`),
so PostgreSQL plans it once per connection rather than at every run: planning the chart's
five-table administrations read took longer than running it (0.85 of 1.45 ms). It is prepared in
the same round trip as its first run on a connection, and each connection remembers what it has
prepared. settings.PREPARED_STATEMENTS=False (PREPARED_STATEMENTS=0) sends the SQL instead, for a
pooler that does not keep a session's prepared statements.

Keyword arguments are related objects set on every instance read, as a related manager sets its
owner (`encounter.sites.all()` gives sites whose `.encounter` is that encounter, without a query).

A read that locks its rows (`select_for_update()`: the charting services' locks, taken on every
change) is kept too, and like the ORM's it runs only inside a transaction
(TransactionManagementError outside one, before any SQL is sent).

Anything else is read through the ORM as usual: an argument that is not an id or a collection of
ids, a collection with None or a repeated id (the ORM drops and merges them, which would change
the statement), a queryset that is not a plain model read (`values()`, a composite primary key's
columns).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import DatabaseError, connections
from django.db.models import Model, QuerySet, prefetch_related_objects
from django.db.models.query import ModelIterable, get_related_populators
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError
from pghistory.runtime import _inject_history_context as _HISTORY_CONTEXT

M = TypeVar("M", bound=Model)

# Stand-in ids: negative, so no row has them; far apart, and of another parity and remainder,
# so a build that branches on an id's value shows it in its SQL. Both sets fit a 32-bit integer,
# so a read of a table whose key is an AutoField (auth's users and groups) takes them as it takes
# real ids. Out of a field's range Django answers "empty" without SQL (EmptyResultSet), which
# would be kept as a statement that never finds anything: `_compile` refuses that. Each argument's
# stand-ins are 10**6 apart: a collection holds fewer ids than that (more go through the ORM).
_FIRST = -(10**9)
_SECOND = -(2 * 10**9) - 7
_SPACING = 10**6


class PreparedReadError(Exception):
    """The build is not a pure function of its ids (its SQL or a constant changed with them)."""


@dataclass(frozen=True)
class _Statement:
    compiler: SQLCompiler | None  # None: the query matches nothing (an empty collection)
    sql: str
    # Per parameter: ("arg", argument index, element index or -1) or ("const", value).
    slots: tuple[tuple[Any, ...], ...]
    lookups: tuple[Any, ...]  # prefetch_related
    alias: str
    locks: bool = False  # select_for_update(): only inside a transaction, as the ORM's
    # How its rows become instances (`_Plan`), worked out at its first run and kept: it depends
    # on the compiled query only. A list so the frozen statement can hold it once made.
    plan: list[_Plan] = field(default_factory=list, compare=False)


@dataclass(frozen=True)
class _Plan:
    """What `ModelIterable` works out from a compiler before it turns rows into instances (Django
    5.2): the columns' converters, the model's fields in the row, the `select_related`
    populators, the annotations' columns. None of it depends on the rows or on the ids asked
    for, so it is worked out once per statement, not at every run (about a tenth of a read's
    time, issue 19)."""

    converters: tuple[tuple[int, tuple[Any, tuple[Callable[..., Any], ...]]], ...]
    model: type[Model]
    init_list: tuple[str, ...]
    start: int
    end: int
    populators: tuple[Any, ...]
    annotations: tuple[tuple[str, int], ...]
    extra_select: bool
    col_count: int


_ORM = _Statement(compiler=None, sql="", slots=(), lookups=(), alias="")


def _shape(args: tuple[Any, ...]) -> tuple[int, ...] | None:
    """-1 for a single id, the number of ids for a collection of ids, -1 - n for a collection of
    n codes (strings, n >= 1); None: not for a prepared read."""
    shape = []
    for arg in args:
        if type(arg) is int:
            shape.append(-1)
        elif isinstance(arg, Collection) and not isinstance(arg, str | bytes):
            items = list(arg)
            kinds = {type(item) for item in items}
            if len(set(items)) != len(items) or len(items) >= _SPACING:
                return None
            if not items or kinds == {int}:
                shape.append(len(items))
            elif kinds == {str}:
                shape.append(-1 - len(items))
            else:
                return None
        else:
            return None
    return tuple(shape)


def _stand_ins(shape: tuple[int, ...], base: int) -> tuple[Any, ...]:
    """Each argument's stand-ins: ids no row has, or codes no row has (an id's digits and a
    letter: a build that changes a code, its case or its length, shows it in its parameters)."""
    out: list[Any] = []
    for index, size in enumerate(shape):
        first = base - index * _SPACING
        if size == -1:
            out.append(first)
        elif size >= 0:
            out.append([first - 1 - n for n in range(size)])
        else:
            out.append([f"{first - 1 - n}x" for n in range(-1 - size)])
    return tuple(out)


def _positions(stand_ins: tuple[Any, ...]) -> dict[int | str, tuple[int, int]]:
    where: dict[int | str, tuple[int, int]] = {}
    for index, arg in enumerate(stand_ins):
        if isinstance(arg, int):
            where[arg] = (index, -1)
        else:
            for n, item in enumerate(arg):
                where[item] = (index, n)
    return where


class PreparedRead(Generic[M]):
    def __init__(self, build: Callable[..., QuerySet[M]]) -> None:
        self.build = build
        # By shape of the arguments. The project has one database: a read's alias is the one
        # its first build routed it to, kept with the statement.
        self._statements: dict[tuple[int, ...], _Statement] = {}
        functools.update_wrapper(self, build)

    def __call__(self, *args: Any, **known: Model | None) -> list[M]:
        shape = _shape(args)
        statement = None if shape is None else self.statement_for(shape)
        if statement is None:
            rows = list(self.build(*args))
            _set_known(rows, known)
            return rows
        return self._run(statement, args, known)

    def statement_for(self, shape: tuple[int, ...]) -> _Statement | None:
        """The statement kept for a shape of arguments, compiled at its first call; None: this
        read goes through the ORM (not a plain model read)."""
        statement = self._statements.get(shape)
        if statement is None:
            statement = self._compile(shape)
            # Two threads compiling one shape at once keep equal statements: no lock needed.
            self._statements[shape] = statement
        return None if statement is _ORM else statement

    def _compile(self, shape: tuple[int, ...]) -> _Statement:
        first = self.build(*_stand_ins(shape, _FIRST))
        second = self.build(*_stand_ins(shape, _SECOND))
        if first._iterable_class is not ModelIterable:
            return _ORM
        alias = first.db
        compiled = []
        for queryset in (first, second):
            compiler = queryset.query.get_compiler(using=alias)
            try:
                sql, params = compiler.as_sql()
            except EmptyResultSet:
                compiled.append((None, "", ()))
                continue
            columns = [column[0] for column in compiler.select[0 : compiler.col_count]]
            if compiler.has_composite_fields(columns):
                return _ORM  # a composite key's columns: read as Django reads them
            compiled.append((compiler, sql, tuple(params)))
        (compiler, sql, params), (_, sql2, params2) = compiled
        name = getattr(self.build, "__qualname__", repr(self.build))
        if compiler is None and 0 not in shape:
            # Nothing to read with no list of ids empty: a stand-in was out of a field's range
            # (or the build reads nothing whatever the ids); never kept as "always empty".
            raise PreparedReadError(f"{name}: it reads nothing with these ids' stand-ins")
        if sql != sql2 or len(params) != len(params2):
            raise PreparedReadError(f"{name}: its SQL changes with the ids given")
        first_at = _positions(_stand_ins(shape, _FIRST))
        second_at = _positions(_stand_ins(shape, _SECOND))
        slots: list[tuple[Any, ...]] = []
        for one, two in zip(params, params2, strict=True):
            if type(one) in (int, str) and one in first_at:
                if type(two) is not type(one) or second_at.get(two) != first_at[one]:
                    raise PreparedReadError(f"{name}: an id moved between builds")
                slots.append(("arg", *first_at[one]))
            elif one == two and type(one) is type(two):
                slots.append(("const", one))
            else:
                raise PreparedReadError(
                    f"{name}: a parameter is neither one of the ids nor a constant ({one!r})"
                )
        return _Statement(
            compiler=compiler,
            sql=sql,
            slots=tuple(slots),
            lookups=tuple(first._prefetch_related_lookups),
            alias=alias,
            locks=first.query.select_for_update,
        )

    def _run(
        self, statement: _Statement, args: tuple[Any, ...], known: dict[str, Model | None]
    ) -> list[M]:
        if statement.compiler is None:
            return []
        connection = connections[statement.alias]
        if (
            statement.locks
            and connection.features.has_select_for_update
            and (connection.get_autocommit())
        ):
            # As Django's compiler refuses it: a lock outside a transaction is released at once.
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        values = [arg if isinstance(arg, int) else list(arg) for arg in args]
        params = tuple(_value(slot, values) for slot in statement.slots)
        rows = _instances(statement, params)
        if statement.lookups:
            prefetch_related_objects(rows, *statement.lookups)
        _set_known(rows, known)
        return rows  # type: ignore[return-value]


def _value(slot: tuple[Any, ...], values: list[Any]) -> Any:
    if slot[0] == "const":
        return slot[1]
    arg = values[slot[1]]
    return arg if slot[2] < 0 else arg[slot[2]]


def _instances(statement: _Statement, params: tuple[Any, ...]) -> list[Model]:
    """What `ModelIterable` does with a compiler's rows (Django 5.2), from the kept compiler."""
    alias = statement.alias
    assert statement.compiler is not None
    # This thread's connection, not the one of the thread that compiled it.
    connection = connections[alias]
    rows = execute_prepared(alias, statement.sql, params)
    plan = statement.plan[0] if statement.plan else None
    if plan is None:
        plan = _plan_of(statement.compiler, alias)
        statement.plan.append(plan)
    converters, start, end = plan.converters, plan.start, plan.end
    from_db, init_list, populators = plan.model.from_db, list(plan.init_list), plan.populators
    out = []
    for fetched in rows:
        row: Sequence[Any] = fetched[: plan.col_count] if plan.extra_select else fetched
        if converters:
            row = list(row)
            for pos, (expression, convs) in converters:
                value = row[pos]
                for converter in convs:
                    value = converter(value, expression, connection)
                row[pos] = value
        obj = from_db(alias, init_list, row[start:end])
        for populator in populators:
            populator.populate(row, obj)
        for attr_name, col_pos in plan.annotations:
            setattr(obj, attr_name, row[col_pos])
        out.append(obj)
    return out


def _plan_of(compiler: SQLCompiler, alias: str) -> _Plan:
    """The compiler's `_Plan`, as `results_iter` and `ModelIterable` work it out (a composite
    key's columns never come here: `_compile` leaves such a read to the ORM)."""
    fields = [s[0] for s in compiler.select[0 : compiler.col_count]]
    select, klass_info, annotation_col_map = (
        compiler.select,
        compiler.klass_info,
        compiler.annotation_col_map,
    )
    assert klass_info is not None and annotation_col_map is not None
    select_fields = klass_info["select_fields"]
    start, end = select_fields[0], select_fields[-1] + 1
    return _Plan(
        converters=tuple(
            (pos, (expression, tuple(convs)))
            for pos, (convs, expression) in compiler.get_converters(fields).items()
        ),
        model=klass_info["model"],
        init_list=tuple(f[0].target.attname for f in select[start:end]),
        start=start,
        end=end,
        populators=tuple(get_related_populators(klass_info, select, alias)),
        annotations=tuple(annotation_col_map.items()),
        extra_select=compiler.has_extra_select,
        col_count=compiler.col_count,
    )


_TYPES = {int: "bigint", str: "text", bool: "boolean", Decimal: "numeric"}


def _param_type(value: Any) -> type:
    """The type a parameter is prepared as: a choice (`Administration.Method.INFUSION`, a str
    enum) as the str it is; bool before int, which it also is."""
    kind = type(value)
    if kind in _TYPES:
        return kind
    for base in (bool, str, int, Decimal):
        if isinstance(value, base):
            return base
    return kind


@functools.lru_cache(maxsize=512)
def _server_side(alias: str, sql: str, types: tuple[type, ...]) -> tuple[str, str]:
    """On PostgreSQL: a name for the statement and its PREPARE, its
    parameters typed by their Python types, so PostgreSQL plans it once per connection instead
    of at every run (planning a five-table join is most of its time). ("", "") otherwise, or
    when a parameter is of a type not listed."""
    if connections[alias].vendor != "postgresql":
        return "", ""
    names = [_TYPES.get(t) for t in types]
    numbered = _numbered(sql)
    if numbered is None or any(n is None for n in names):
        return "", ""
    name = "mar_" + hashlib.sha1(f"{sql}{types}".encode()).hexdigest()[:24]
    typed = f"({', '.join(n for n in names if n)})" if names else ""
    return name, f"PREPARE {name}{typed} AS {numbered}"


def _numbered(sql: str) -> str | None:
    """Django's `%s` placeholders as PostgreSQL's `$1, $2...` (a literal `%%` stays, for the
    client-side formatting the whole text still goes through); None if anything else follows a
    `%`."""
    out, n, i = [], 0, 0
    while i < len(sql):
        char = sql[i]
        if char == "%":
            following = sql[i + 1 : i + 2]
            if following == "%":
                out.append("%%")
            elif following == "s":
                n += 1
                out.append(f"${n}")
            else:
                return None
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def execute_prepared(alias: str, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of `sql` (Django's `%s` placeholders) with `params`: on PostgreSQL through a
    prepared statement (prepared in the same round trip at its first run on a connection, then
    only executed), else as it is. The same statement, logged and counted as one query.

    A prepared statement the session no longer has (a pooler's DISCARD), one it has though this
    connection did not know (a run that failed after its PREPARE), or one PostgreSQL refuses since
    a migration changed a column's type ("cached plan must not change result type") is put
    right: at once outside a transaction; inside one, whose statement has failed, the error
    stands and the next run puts it right."""
    connection = connections[alias]
    name, prepare = (
        _server_side(alias, sql, tuple(_param_type(p) for p in params))
        if getattr(settings, "PREPARED_STATEMENTS", True)
        else ("", "")
    )
    with connection.cursor() as cursor, _reads_without_history_context(connection):
        if not name:
            cursor.execute(sql, params)
            return cursor.fetchall()
        # What this connection (database session) has prepared, kept on it: a new connection
        # has none. name -> True when prepared, False when to replace (refused as stale).
        raw = connection.connection
        state: dict[str, bool] | None = getattr(raw, "_mar_prepared", None)
        if state is None:
            state = raw._mar_prepared = {}
        placeholders = ", ".join(["%s"] * len(params))
        execute = f"EXECUTE {name}" + (f"({placeholders})" if params else "")
        for attempt in (1, 2):
            known = state.get(name)
            if known:
                text = execute
            elif known is None:
                text = f"{prepare}; {execute}"
            else:
                text = f"DEALLOCATE {name}; {prepare}; {execute}"
            try:
                cursor.execute(text, params)
            except DatabaseError as exc:
                code = getattr(exc.__cause__, "sqlstate", None)
                if code == _NO_SUCH_STATEMENT:
                    state.pop(name, None)
                elif code == _ALREADY_PREPARED:  # prepared before its run failed
                    state[name] = True
                elif code == _FEATURE_NOT_SUPPORTED and "cached plan" in str(exc):
                    state[name] = False
                else:
                    raise
                if attempt == 2 or connection.in_atomic_block:
                    raise
                continue
            state[name] = True
            break
        # The rows of the last statement sent (PREPARE, and the history's context that
        # django-pghistory may put first, answer before it).
        while cursor.cursor.nextset():
            pass
        return cursor.fetchall()


@contextlib.contextmanager
def _reads_without_history_context(connection: Any) -> Iterator[None]:
    """django-pghistory puts its context (who, which URL) before every statement of a request
    that writes, except those it knows for reads: it leaves a SELECT alone, not an EXECUTE of a
    prepared SELECT. What runs here is always a read (a prepared read, the record bridge's
    SELECT): no trigger fires, so no context is needed; without it the statement is one, not
    two with a JSON document, on each of a start's twenty reads. Writes keep it
    (tests/mar/test_prepared.py, tests of the audit trail)."""
    wrappers = connection.execute_wrappers
    kept = [w for w in wrappers if w is not _HISTORY_CONTEXT]
    if len(kept) == len(wrappers):
        yield
        return
    connection.execute_wrappers = kept
    try:
        yield
    finally:
        connection.execute_wrappers = wrappers


_NO_SUCH_STATEMENT = "26000"  # invalid_sql_statement_name
_ALREADY_PREPARED = "42P05"  # duplicate_prepared_statement
_FEATURE_NOT_SUPPORTED = "0A000"  # e.g. cached plan must not change result type


def _set_known(rows: list[Any], known: dict[str, Model | None]) -> None:
    for name, value in known.items():
        for row in rows:
            setattr(row, name, value)


def prepared(build: Callable[..., QuerySet[M]]) -> PreparedRead[M]:
    """Decorate a function of ids that returns a queryset: see the module's docstring."""
    return PreparedRead(build)


def prefetched(parents: list[Any], name: str, children: list[Any]) -> None:
    """Give each parent its `children` under the reverse foreign key `name` (e.g. "pauses") as
    `prefetch_related(name)` gives them: `parent.<name>.all()` reads nothing more, in the order
    `children` came in, and each child's foreign key holds its parent."""
    if not parents:
        return
    rel = parents[0]._meta.get_field(name)  # the reverse relation
    field = rel.field  # the child's ForeignKey
    by_parent: dict[Any, list[Any]] = {}
    for child in children:
        by_parent.setdefault(getattr(child, field.attname), []).append(child)
    cache_name = rel.cache_name  # where the related manager looks for prefetched rows
    for parent in parents:
        rows = by_parent.get(parent.pk, [])
        for child in rows:
            setattr(child, field.name, parent)
        if not hasattr(parent, "_prefetched_objects_cache"):
            parent._prefetched_objects_cache = {}
        parent._prefetched_objects_cache.pop(cache_name, None)
        # As Django's prefetch: the related manager's own (filtered) queryset, its rows given.
        queryset = getattr(parent, name).get_queryset()
        queryset._result_cache = rows
        queryset._prefetch_done = True
        parent._prefetched_objects_cache[cache_name] = queryset
