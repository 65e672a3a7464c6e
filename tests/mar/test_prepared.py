"""A prepared read (mar/prepared.py) gives exactly what its queryset gives through the ORM, row for
row, field for field and join for join, with its SQL compiled once; and it refuses a build that is
not a pure function of its ids rather than run a statement that would be wrong."""

import inspect
import io
import threading
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, transaction
from django.db.models import Model, QuerySet
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mar import chart_reads
from mar.models import AccessSite, Administration, BarcodeScan, Encounter, Pause
from mar.prepared import PreparedReadError, _numbered, _server_side, prefetched, prepared
from tests import factories


def _snapshot(row: Model, depth: int = 0) -> tuple[Any, ...]:
    """A row as its class, each column's value with its type, and the rows joined to it
    (select_related) the same way."""
    if depth < 0:  # the columns alone
        return (
            type(row).__name__,
            tuple(repr(getattr(row, f.attname)) for f in row._meta.concrete_fields),
        )
    fields = tuple((f.attname, repr(getattr(row, f.attname))) for f in row._meta.concrete_fields)
    # and what else the read set on it: annotations (the chart's `summary_stored`)
    columns = {f.attname for f in row._meta.concrete_fields}
    fields += tuple(
        sorted((k, repr(v)) for k, v in vars(row).items() if k[0] != "_" and k not in columns)
    )
    joined = tuple(
        sorted(
            (name, None if value is None else _snapshot(value, depth + 1))
            for name, value in row._state.fields_cache.items()
            if depth < 3 and (value is None or isinstance(value, Model))
        )
    )
    return (type(row).__name__, fields, joined)


def _orm(read: Any, *args: Any) -> list[tuple[Any, ...]]:
    return [_snapshot(row) for row in read.build(*args)]


def _arguments(read: Any, encounter: Encounter) -> list[tuple[Any, ...]]:
    """Arguments for a read, by the names of its build's parameters: this encounter's ids, and
    for a collection of ids all of them, one, none, and all in reverse."""
    ids = {
        "administration_ids": list(encounter.administrations.values_list("pk", flat=True)),
        "ids": list(encounter.administrations.values_list("pk", flat=True)),
        "scan_ids": list(
            BarcodeScan.objects.filter(encounter=encounter).values_list("pk", flat=True)
        ),
        "site_ids": list(encounter.sites.values_list("pk", flat=True)),
        # a start's keys (codes): those its taps left, and one no tap left
        "request_keys": sorted(
            set(
                encounter.administrations.exclude(request_key="").values_list(
                    "request_key", flat=True
                )
            )
        )
        + ["no-tap-left-this"],
        # the board's page: this encounter first, then every other one
        "encounter_ids": [encounter.pk]
        + list(Encounter.objects.exclude(pk=encounter.pk).values_list("pk", flat=True)),
    }
    # A single id: one of this encounter's rows, and one no row has (a 404's empty read).
    single = {
        "site_id": encounter.sites.values_list("pk", flat=True).first() or 0,
        "order_id": encounter.orders.values_list("pk", flat=True).first() or 0,
        "administration_id": encounter.administrations.values_list("pk", flat=True).last() or 0,
        # a reader's groups (the checklist's role check): the nurse who charted it, if any
        "user_id": encounter.administrations.values_list("created_by", flat=True).first() or 0,
    }
    choices: list[tuple[Any, ...]] = [()]
    for name in inspect.signature(read.build).parameters:
        if name == "encounter_id":
            options: list[Any] = [encounter.pk]
        elif name in single:
            options = [single[name], 0]
        else:
            every = ids[name]
            options = [every, every[:1], [], list(reversed(every))]
        choices = [(*chosen, option) for chosen in choices for option in options]
    return choices


def test_every_chart_read_gives_the_orms_rows_on_the_demo_day(db) -> None:
    """Every prepared read of the chart (mar/chart_reads.py), on every visit of the demo day
    (signed and unsigned, scans, overrides, rate changes, assessments, addenda...)."""
    call_command("demo", stdout=io.StringIO())
    encounters = list(Encounter.objects.order_by("pk"))
    assert len(encounters) > 3
    assert len(chart_reads.READS) >= 17
    # A start tapped with its form's key (a double tap's second finds it: `order_to_start`).
    tapped = Administration.objects.filter(encounter=encounters[1]).order_by("pk").first()
    assert tapped is not None
    Administration.objects.filter(pk=tapped.pk).update(request_key="a-tap-key")
    stored = chart_reads.encounter_with_summary_stored(encounters[0].pk)[0]
    assert stored.summary_stored in (True, False)  # the annotation is compared below too
    compared = 0
    for name, read in chart_reads.READS.items():
        for encounter in encounters:
            for args in _arguments(read, encounter):
                got = [_snapshot(row) for row in read(*args)]
                assert got == _orm(read, *args), (name, args)
                compared += len(got)
    assert compared > 100


def _compiles(monkeypatch: pytest.MonkeyPatch) -> list[SQLCompiler]:
    """The compilers that build SQL from now on (none, for a prepared read run again)."""
    compiled: list[SQLCompiler] = []
    original = SQLCompiler.as_sql

    def counting(self: SQLCompiler, *args: Any, **kwargs: Any) -> Any:
        compiled.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "as_sql", counting)
    return compiled


def test_a_read_compiles_its_sql_once_per_shape(db, django_assert_num_queries, monkeypatch) -> None:
    encounter = factories.chemo_encounter_create(extra_pushes=2)
    read = chart_reads.administrations
    read(encounter.pk)  # compiled at its first call, if no test before compiled it
    compiled = _compiles(monkeypatch)
    with django_assert_num_queries(1):
        rows = read(encounter.pk)
    assert compiled == []
    assert [_snapshot(r) for r in rows] == _orm(read, encounter.pk)
    # Another number of ids is another statement, compiled once too.
    ids = [a.pk for a in rows]
    chart_reads.administrations_named(encounter.pk, ids[:2])
    compiled.clear()
    chart_reads.administrations_named(encounter.pk, ids[1:3])
    assert compiled == []


def test_related_owner_is_set_without_a_query(db, django_assert_num_queries) -> None:
    """`encounter=` sets what `encounter.sites.all()` sets: each row's owner, no read of it."""
    encounter = factories.chemo_encounter_create()
    sites = chart_reads.sites(encounter.pk, encounter=encounter)
    with django_assert_num_queries(0):
        assert all(site.encounter is encounter for site in sites)


def test_prefetched_children_read_nothing_more_and_know_their_parent(
    db, django_assert_num_queries
) -> None:
    encounter = factories.chemo_encounter_create(extra_pushes=1)
    infusion = encounter.administrations.order_by("pk").last()
    Pause.objects.create(administration=infusion, start=infusion.start, end=None)
    adms = chart_reads.with_pauses(chart_reads.administrations(encounter.pk))
    expected = {
        a.pk: [_snapshot(p, -1) for p in a.pauses.all()]
        for a in encounter.administrations.prefetch_related("pauses")
    }
    count = Pause.objects.filter(administration__encounter=encounter).count()
    with django_assert_num_queries(0):
        assert {a.pk: [_snapshot(p, -1) for p in a.pauses.all()] for a in adms} == expected
        assert all(p.administration is a for a in adms for p in a.pauses.all())
        assert sum(len(a.pauses.all()) for a in adms) == count > 0
    # A filter on the relation still reads (as after Django's own prefetch), and only its rows.
    assert [p.pk for p in adms[-1].pauses.filter(end__isnull=True)] == [
        p.pk for p in Pause.objects.filter(administration=adms[-1], end__isnull=True)
    ]
    prefetched([], "pauses", [])  # nothing to give: nothing done


def test_a_build_that_reads_the_clock_is_refused(db) -> None:
    @prepared
    def started_before_now(encounter_id: int) -> QuerySet[Administration]:
        return Administration.objects.filter(encounter_id=encounter_id, start__lt=timezone.now())

    with pytest.raises(PreparedReadError, match="neither one of the ids nor a constant"):
        started_before_now(1)


def test_a_build_whose_sql_changes_with_the_ids_is_refused(db) -> None:
    @prepared
    def odd(encounter_id: int) -> QuerySet[Administration]:
        rows = Administration.objects.filter(encounter_id=encounter_id)
        return rows.filter(method="push") if encounter_id % 2 else rows

    with pytest.raises(PreparedReadError, match="SQL changes"):
        odd(1)


def test_a_build_that_computes_with_an_id_is_refused(db) -> None:
    @prepared
    def after(encounter_id: int) -> QuerySet[Administration]:
        return Administration.objects.filter(pk__gt=encounter_id + 1)

    with pytest.raises(PreparedReadError):
        after(1)


def test_a_build_whose_stand_ins_are_out_of_a_fields_range_is_refused(db) -> None:
    """Django answers "empty" without SQL for a value out of an integer field's range: a read
    compiled so would never find anything. It is refused, not kept (the stand-ins are negative:
    a positive field cannot take them)."""

    @prepared
    def at_version(version: int) -> QuerySet[Administration]:
        return Administration.objects.filter(version=version)

    with pytest.raises(PreparedReadError, match="reads nothing"):
        at_version(1)


def test_what_is_not_a_list_of_distinct_ids_goes_through_the_orm(db) -> None:
    """None in a list, a repeated id, text: the ORM drops or merges them (a different statement),
    so these are read through it, with the same rows."""
    encounter = factories.chemo_encounter_create(extra_pushes=1)
    ids = list(encounter.administrations.values_list("pk", flat=True))
    read = chart_reads.administrations_named
    for args in (
        (encounter.pk, [*ids, None]),
        (encounter.pk, [ids[0], ids[0]]),
        (str(encounter.pk), ids),
    ):
        assert [_snapshot(r) for r in read(*args)] == _orm(read, *args)


def test_a_collection_of_codes_reads_as_the_orm_reads_it(
    db, django_assert_num_queries, monkeypatch
) -> None:
    """A collection of strings (codes) is an argument as a collection of ids is: the statement
    is compiled once for a number of codes, and any codes of that number read the ORM's rows."""
    encounter = factories.chemo_encounter_create(extra_pushes=1)
    methods = sorted({a.method for a in encounter.administrations.all()})
    assert len(methods) == 2

    @prepared
    def by_method(encounter_id: int, methods: list[str]) -> QuerySet[Administration]:
        return Administration.objects.filter(encounter_id=encounter_id, method__in=methods)

    for args in ((encounter.pk, methods), (encounter.pk, methods[:1]), (encounter.pk, ["none"])):
        assert [_snapshot(r) for r in by_method(*args)] == _orm(by_method, *args)
    compiled = _compiles(monkeypatch)
    with django_assert_num_queries(1):
        rows = by_method(encounter.pk, methods[1:])
    assert compiled == [] and rows and {r.method for r in rows} == {methods[1]}


@pytest.mark.parametrize(
    "change",
    [str.upper, lambda code: code[:5], lambda code: code.strip("x")],
    ids=["case", "cut", "stripped"],
)
def test_a_build_that_changes_a_code_is_refused(db, change) -> None:
    @prepared
    def by_method(methods: list[str]) -> QuerySet[Administration]:
        return Administration.objects.filter(method__in=[change(m) for m in methods])

    with pytest.raises(PreparedReadError):
        by_method(["push"])


def test_a_mix_of_ids_and_codes_in_one_collection_goes_through_the_orm(db) -> None:
    encounter = factories.chemo_encounter_create()
    ids = list(encounter.administrations.values_list("pk", flat=True))

    @prepared
    def named(values: list[Any]) -> QuerySet[Administration]:
        return Administration.objects.filter(pk__in=values)

    assert [_snapshot(r) for r in named([ids[0], str(ids[-1])])] == _orm(
        named, [ids[0], str(ids[-1])]
    )


def test_an_empty_list_of_ids_reads_nothing(db, django_assert_num_queries) -> None:
    with django_assert_num_queries(0):
        assert chart_reads.pauses([]) == []


def test_a_values_read_is_left_to_the_orm(db) -> None:
    encounter = factories.chemo_encounter_create()

    @prepared
    def site_ids(encounter_id: int) -> QuerySet[Any]:
        return AccessSite.objects.filter(encounter_id=encounter_id).values("pk")

    assert site_ids(encounter.pk) == list(
        AccessSite.objects.filter(encounter=encounter).values("pk")
    )


@pytest.mark.django_db(transaction=True)
def test_a_statement_compiled_in_one_thread_runs_on_anothers_connection() -> None:
    """Threads have their own connections (a threaded server): the kept statement runs on the
    calling thread's."""
    encounter = factories.chemo_encounter_create(extra_pushes=1)
    read = chart_reads.administrations
    expected = [_snapshot(r) for r in read(encounter.pk)]  # compiled here
    seen: dict[str, Any] = {}

    def other() -> None:
        try:
            seen["rows"] = [_snapshot(r) for r in read(encounter.pk)]
            seen["connection"] = connections["default"]
        finally:
            connections.close_all()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert seen["rows"] == expected
    assert seen["connection"] is not connection


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_choice_of_administrations_reads_as_the_orm_reads_it(db, data: st.DataObject) -> None:
    """Generated: any subset of a visit's administrations, in any order, with or without a site's
    running infusions (a flush's answer), each shape compiled once and reused."""
    encounter = Encounter.objects.order_by("pk").first() or factories.chemo_encounter_create(
        extra_pushes=3
    )
    every = list(encounter.administrations.values_list("pk", flat=True))
    chosen = data.draw(st.lists(st.sampled_from(every), unique=True) if every else st.just([]))
    site = encounter.sites.values_list("pk", flat=True).first() or 0
    for read, args in (
        (chart_reads.administrations_named, (encounter.pk, chosen)),
        (chart_reads.administrations_named_or_running_on, (encounter.pk, chosen, site)),
    ):
        assert [_snapshot(r) for r in read(*args)] == _orm(read, *args)


ON_POSTGRESQL = pytest.mark.postgresql("prepared statements are PostgreSQL's")


def _prepared_on_server() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {row[0] for row in cursor.fetchall()}


@ON_POSTGRESQL
@pytest.mark.django_db(transaction=True)
def test_postgresql_plans_a_read_once_per_connection() -> None:
    """The first run on a connection prepares the statement in the same round trip; later runs
    only execute it; a new connection (a new database session) prepares it again."""
    encounter = factories.chemo_encounter_create(extra_pushes=1)
    read = chart_reads.administrations
    expected = _orm(read, encounter.pk)
    statement = read.statement_for((-1,))
    name = _server_side(statement.alias, statement.sql, (int,))[0]
    assert name.startswith("mar_")
    sent: list[str] = []
    connection.close()  # a new database session, whatever ran on this one before
    connection.ensure_connection()

    def runs() -> list[tuple[Any, ...]]:
        with CaptureQueriesContext(connection) as captured:
            rows = [_snapshot(r) for r in read(encounter.pk)]
        sent.extend(q["sql"] for q in captured.captured_queries)
        assert len(captured.captured_queries) == 1
        return rows

    first = runs()
    assert name in _prepared_on_server()
    assert runs() == first == expected
    assert sent[0].startswith("PREPARE ")
    assert sent[1].startswith(f"EXECUTE {name}(")
    connection.close()
    connection.ensure_connection()
    assert name not in _prepared_on_server()
    assert runs() == expected
    assert sent[2].startswith("PREPARE ")
    assert name in _prepared_on_server()


@ON_POSTGRESQL
def test_a_read_carries_no_history_context_and_a_write_still_does(db) -> None:
    """In a request that writes, django-pghistory puts who and which URL before each statement
    it does not know for a read. A prepared read (an EXECUTE of a SELECT) is sent alone; a
    write in the same context still carries the context, and its audit row records it."""
    import pghistory

    from mar.audit.models import EVENTS

    encounter = factories.chemo_encounter_create()
    adm = encounter.administrations.order_by("pk").first()
    expected = _orm(chart_reads.administrations, encounter.pk)
    with pghistory.context(user=None, url="/a-test/", method="POST"):
        with CaptureQueriesContext(connection) as captured:
            rows = chart_reads.administrations(encounter.pk)
            Administration.objects.filter(pk=adm.pk).update(bag="B9")
    read, write = captured.captured_queries
    assert "set_config" not in read["sql"] and "EXECUTE mar_" in read["sql"]
    assert "set_config('pghistory.context_metadata'" in write["sql"]
    assert [_snapshot(r) for r in rows] == expected
    event = EVENTS[Administration].objects.filter(pgh_obj_id=adm.pk).order_by("pgh_id").last()
    assert event is not None and event.pgh_context.metadata["url"] == "/a-test/"


@ON_POSTGRESQL
def test_every_chart_read_runs_as_a_statement_planned_once(db) -> None:
    """None of the chart's reads falls back to sending its SQL to be planned at every run: each
    one's parameters have a type PostgreSQL is told (a choice such as
    `Administration.Method.INFUSION` is the str it is), so each is prepared and executed."""
    encounter = factories.chemo_encounter_create(extra_pushes=1)
    for name, read in chart_reads.READS.items():
        for args in _arguments(read, encounter):
            with CaptureQueriesContext(connection) as captured:
                read(*args)
            for query in captured.captured_queries:
                assert query["sql"].startswith(("PREPARE ", "EXECUTE ")), (name, args)


@ON_POSTGRESQL
def test_without_prepared_statements_the_sql_is_sent(db, settings) -> None:
    settings.PREPARED_STATEMENTS = False
    encounter = factories.chemo_encounter_create()

    @prepared
    def sites_again(encounter_id: int) -> QuerySet[AccessSite]:
        return AccessSite.objects.filter(encounter_id=encounter_id)

    with CaptureQueriesContext(connection) as captured:
        rows = sites_again(encounter.pk)
    assert [_snapshot(r) for r in rows] == _orm(sites_again, encounter.pk)
    assert captured.captured_queries[0]["sql"].startswith("SELECT ")


def test_placeholders_are_numbered_and_a_literal_percent_kept() -> None:
    assert _numbered("a = %s AND b LIKE '10%%' AND c IN (%s, %s)") == (
        "a = $1 AND b LIKE '10%%' AND c IN ($2, $3)"
    )
    assert _numbered("a = %(name)s") is None


def _fresh_session_and_name(read: Any, encounter_id: int) -> str:
    connection.close()  # a new database session, whatever ran on this one before
    connection.ensure_connection()
    read(encounter_id)
    statement = read.statement_for((-1,))
    return _server_side(statement.alias, statement.sql, (int,))[0]


@ON_POSTGRESQL
@pytest.mark.django_db(transaction=True)
def test_a_statement_the_session_lost_is_prepared_again() -> None:
    """A pooler's DISCARD (here a DEALLOCATE behind the app's back): outside a transaction the
    read prepares it again at once; inside one the error stands (the transaction has failed) and
    the next read puts it right. A statement the session has though the connection forgot it
    (a run that failed after its PREPARE) is executed, not prepared twice."""
    encounter = factories.chemo_encounter_create()
    read = chart_reads.sites
    expected = _orm(read, encounter.pk)
    name = _fresh_session_and_name(read, encounter.pk)
    with connection.cursor() as cursor:
        cursor.execute(f"DEALLOCATE {name}")
    assert [_snapshot(r) for r in read(encounter.pk)] == expected
    assert name in _prepared_on_server()

    with connection.cursor() as cursor:
        cursor.execute(f"DEALLOCATE {name}")
    with pytest.raises(DatabaseError), transaction.atomic():
        read(encounter.pk)
    assert [_snapshot(r) for r in read(encounter.pk)] == expected

    connection.connection._mar_prepared.clear()
    assert [_snapshot(r) for r in read(encounter.pk)] == expected
    assert connection.connection._mar_prepared[name] is True


@ON_POSTGRESQL
@pytest.mark.django_db(transaction=True)
def test_a_statement_refused_after_a_column_type_changed_is_prepared_again() -> None:
    """A migration run while the app is up changes a column's type: PostgreSQL refuses the
    prepared statement ("cached plan must not change result type"); the read replaces it."""
    encounter = factories.chemo_encounter_create()
    read = chart_reads.sites
    expected = [s.location for s in read.build(encounter.pk)]
    name = _fresh_session_and_name(read, encounter.pk)
    refused: list[str] = []

    def watch(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        try:
            return execute(sql, params, many, context)
        except DatabaseError as exc:
            refused.append(str(exc))
            raise

    table = AccessSite._meta.db_table
    other = connections.create_connection("default")  # the migration's own session
    try:
        with other.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table} ALTER COLUMN location TYPE text")
        with connection.execute_wrapper(watch):
            assert [s.location for s in read(encounter.pk)] == expected
    finally:
        with other.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table} ALTER COLUMN location TYPE varchar(100)")
        other.close()
    assert any("cached plan must not change result type" in text for text in refused)
    assert connection.connection._mar_prepared[name] is True


def test_a_users_roles_read_as_the_orm_reads_them(db) -> None:
    """mar/roles.py reads a user's groups on every request that checks a role: the prepared read
    gives the groups the ORM gives, for a user with none, one and several, and none of another's."""
    from django.contrib.auth.models import Group

    from mar import roles

    nobody = factories.user_create(username="no-role")
    nurse = factories.user_create(username="one-role", role=roles.NURSE)
    several = factories.user_create(username="two-roles", role=roles.NURSE)
    several.groups.add(Group.objects.get_or_create(name=roles.CLERK)[0])
    for user in (nobody, nurse, several):
        expected = sorted(user.groups.values_list("name", flat=True))
        assert sorted(g.name for g in roles.groups_of(user.pk)) == expected
        fresh = type(user).objects.get(pk=user.pk)  # nothing kept on the instance yet
        assert roles.user_roles(fresh) == set(expected)
    assert roles.user_roles(type(several).objects.get(pk=several.pk)) == {roles.NURSE, roles.CLERK}


@ON_POSTGRESQL
@pytest.mark.django_db(transaction=True)
def test_a_locking_read_locks_and_runs_only_in_a_transaction_as_the_orms() -> None:
    """A charting service's lock (`select_for_update()`, e.g. `chart_reads.encounter_locked`) is
    a prepared read too: its statement says FOR UPDATE, and outside a transaction (where the lock
    would be released at once) it is refused before any SQL is sent, as the ORM refuses it."""
    encounter = factories.chemo_encounter_create()
    with transaction.atomic():
        (row,) = chart_reads.encounter_locked(encounter.pk)
    assert row.status == encounter.status and row.timezone == encounter.timezone
    statement = chart_reads.encounter_locked.statement_for((-1,))
    assert statement is not None and statement.sql.endswith("FOR UPDATE")
    with pytest.raises(TransactionManagementError):
        Encounter.objects.select_for_update().filter(pk=encounter.pk).first()
    with CaptureQueriesContext(connection) as captured, pytest.raises(TransactionManagementError):
        chart_reads.encounter_locked(encounter.pk)
    assert captured.captured_queries == []
