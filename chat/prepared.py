"""The turn store's fixed-shape statements, built once per model and database.

The ORM builds each statement anew on every call (the query, its compiler, the
placeholders and quoting): for a turn store's SELECT, two INSERTs and UPDATE that
was most of its CPU time, held on the database thread while the event loop waits
for the GIL (bench/README.md, figure 4). The statements here are the ones the ORM
would send, kept as SQL text; the values still go through each field's own
conversion, so what is stored (and read back) is the same.

What it builds:

- `get_locked`: one row by a unique field, row-locked (`select_for_update().get`);
- `get_locked_with`: that row and the row of another model it shares a column
  with (a conversation and its owner's Profile), both locked by one SELECT;
- `insert` and `update`: `save()` of a new row, `save(update_fields=...)`;
- `insert_then_update`: new rows and then an UPDATE, where a row may point at one
  inserted before it (a reply at its question, the conversation at its reply). On
  PostgreSQL that is one statement (data-modifying CTEs): each statement costs a
  round trip and ~100 µs of the server's CPU, which is what a burst of sends queues
  on. Elsewhere (SQLite has no INSERT in WITH) it is one statement per row.

No signals are sent (`Model.save` sends pre_save/post_save): only for models that
have no receivers (the message and the conversation).
"""

from functools import cache

from django.db import connection
from django.db.models import Model
from django.db.transaction import TransactionManagementError


@cache
def _columns(model: type[Model], vendor: str):
    """The ORM's SELECT list of every column of a model (table-qualified), the
    converters of their values by position, and the attribute names they load."""
    compiler = model.objects.all().query.get_compiler(connection=connection)
    compiler.as_sql()  # fills compiler.select
    columns = [column for column, _, _ in compiler.select]
    select_list = ", ".join(sql for _, (sql, _), _ in compiler.select)
    # Bound to the first caller's `connection.ops`, but each call passes its own
    # thread's connection to them.
    converters = list(compiler.get_converters(columns).items())
    names = [field.attname for field in model._meta.concrete_fields]
    return select_list, converters, names


def _from_row(model: type[Model], vendor: str, row) -> Model:
    """An instance of `model` from its columns as `_columns` selects them."""
    _, converters, names = _columns(model, vendor)
    row = list(row)
    for index, (functions, expression) in converters:
        for convert in functions:
            row[index] = convert(row[index], expression, connection)
    return model.from_db(connection.alias, names, row)


def _field(model: type[Model], name: str):
    return model._meta.pk if name == "pk" else model._meta.get_field(name)


def _column(model: type[Model], field: str) -> str:
    """A field's column, table-qualified and quoted, as the ORM writes it."""
    quote = connection.ops.quote_name
    return f"{quote(model._meta.db_table)}.{quote(_field(model, field).column)}"


def _for_update() -> str:
    """The row-lock clause, where the database has one (SQLite: none needed)."""
    if not connection.features.has_select_for_update:
        return ""
    # As select_for_update checks when it builds its statement (once, here).
    if not connection.in_atomic_block:
        raise TransactionManagementError("a locked read runs inside a transaction")
    return " FOR UPDATE"


@cache
def _locked_select(model: type[Model], vendor: str, field: str) -> str:
    select_list, _, _ = _columns(model, vendor)
    table = connection.ops.quote_name(model._meta.db_table)
    return f"SELECT {select_list} FROM {table} WHERE {_column(model, field)} = %s"


def get_locked(model: type[Model], field: str, value) -> Model:
    """`model.objects.select_for_update().get(<field>=value)` for a unique field,
    built once. Raises model.DoesNotExist as `get` does.

    Inside a transaction only, as `select_for_update`."""
    lock = _for_update()
    with connection.cursor() as cursor:
        cursor.execute(_locked_select(model, connection.vendor, field) + lock, [value])
        row = cursor.fetchone()
    if row is None:
        raise model.DoesNotExist(f"{model.__name__} matching query does not exist.")
    return _from_row(model, connection.vendor, row)


@cache
def _locked_join(
    model: type[Model], field: str, other: type[Model], shared: str, vendor: str
) -> tuple[str, int]:
    first, _, _ = _columns(model, vendor)
    second, _, _ = _columns(other, vendor)
    quote = connection.ops.quote_name
    # `model` first in FROM: PostgreSQL locks the rows in that order, the order
    # every transaction that takes both must take them in.
    sql = (
        f"SELECT {first}, {second} FROM {quote(model._meta.db_table)}"
        f" JOIN {quote(other._meta.db_table)}"
        f" ON {_column(other, shared)} = {_column(model, shared)}"
        f" WHERE {_column(model, field)} = %s"
    )
    return sql, len(model._meta.concrete_fields)


def get_locked_with(
    model: type[Model], field: str, value, other: type[Model], shared: str
) -> tuple[Model, Model] | None:
    """`get_locked(model, field, value)` and then `get_locked(other, shared, <its
    value in that row>)` in one statement: the row, and the row of `other` with
    the same `shared` field (a unique one in `other`), both locked, in that order.

    None when either row is missing: the caller takes them one by one."""
    lock = _for_update()
    sql, split = _locked_join(model, field, other, shared, connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql + lock, [value])
        row = cursor.fetchone()
    if row is None:
        return None
    return (
        _from_row(model, connection.vendor, row[:split]),
        _from_row(other, connection.vendor, row[split:]),
    )


@cache
def _insert_parts(model: type[Model], vendor: str):
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    returning = ""
    if connection.features.can_return_columns_from_insert:
        returning = f" RETURNING {connection.ops.quote_name(model._meta.pk.column)}"
    return fields, f"INSERT INTO {table} ({columns}) ", returning


def _values(obj: Model, fields, *, add: bool, earlier: dict | None = None):
    """The SQL and parameters of each field's value, as `save` would store it, and
    the earlier rows' CTEs those read.

    `pre_save` first (auto_now fields take the time now, on the instance too). A
    value that is a database function needing no resolving (`Now()`) is compiled
    into the statement and, as after `save`, left on the instance as the
    expression; an `F()` or anything that refers to columns is not supported.

    `earlier` maps the id() of rows inserted earlier in the same statement to the
    name of their CTE: a foreign key set to one of them reads its new pk there."""
    compiler = None
    sqls, params, sources = [], [], []
    for field in fields:
        target = _earlier_target(obj, field, earlier)
        if target is not None:
            source = earlier[id(target)]
            sqls.append(f"{source}.{connection.ops.quote_name(target._meta.pk.column)}")
            sources.append(source)
            continue
        value = field.pre_save(obj, add=add)
        if hasattr(value, "resolve_expression"):
            if compiler is None:
                query = type(obj).objects.none().query
                compiler = query.get_compiler(connection=connection)
            sql, expression_params = compiler.compile(value)
            sqls.append(sql)
            params.extend(expression_params)
        else:
            sqls.append("%s")
            params.append(field.get_db_prep_save(value, connection))
    return sqls, params, sources


def _earlier_target(obj: Model, field, earlier: dict | None) -> Model | None:
    """The row inserted earlier (a key of `earlier`: its id()) that a foreign key
    of `obj` is set to as the object (`reply.parent = question`), if any."""
    if not earlier or not field.is_relation or not field.is_cached(obj):
        return None
    target = field.get_cached_value(obj)
    return target if id(target) in earlier else None


def _point_at_inserted(obj: Model, inserted: list[Model]) -> None:
    """A foreign key of `obj` set to one of the `inserted` rows as the object,
    before it had a pk, takes its pk, as `save` does (the object stays cached)."""
    rows = {id(row): row for row in inserted}
    for field in obj._meta.concrete_fields:
        target = _earlier_target(obj, field, rows)
        if target is not None:
            setattr(obj, field.name, target)


def _stored_as_new(obj: Model, pk) -> None:
    """The instance's state after `save` stored it as a new row."""
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = connection.alias


def insert(obj: Model) -> None:
    """`obj.save()` of a new row (no signals): INSERT it and set its pk."""
    fields, head, returning = _insert_parts(type(obj), connection.vendor)
    sqls, params, _ = _values(obj, fields, add=True)
    with connection.cursor() as cursor:
        cursor.execute(f"{head}VALUES ({', '.join(sqls)}){returning}", params)
        pk = cursor.fetchone()[0] if returning else cursor.lastrowid
    _stored_as_new(obj, pk)


def _update_parts(obj: Model, field_names: list[str]):
    meta = obj._meta
    fields = [meta.get_field(name) for name in field_names]
    quote = connection.ops.quote_name
    return fields, quote(meta.db_table), [quote(f.column) for f in fields]


def _assignments(columns: list[str], sqls: list[str]) -> str:
    return ", ".join(f"{c} = {s}" for c, s in zip(columns, sqls, strict=True))


def update(obj: Model, field_names: list[str]) -> None:
    """`obj.save(update_fields=field_names)` (no signals): one UPDATE by pk."""
    fields, table, columns = _update_parts(obj, field_names)
    sqls, params, _ = _values(obj, fields, add=False)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {_assignments(columns, sqls)}"
            f" WHERE {_column(type(obj), 'pk')} = %s",
            [*params, obj.pk],
        )


def insert_then_update(new: list[Model], obj: Model, field_names: list[str]) -> None:
    """`save()` each of `new` in order, then `obj.save(update_fields=field_names)`
    (no signals). A foreign key set to a row of `new` inserted before it, as the
    object (`reply.parent = question`), stores that row's new pk.

    One statement on PostgreSQL: an error (a unique constraint) stores none of it,
    where elsewhere the caller's transaction undoes the statements before it."""
    if connection.vendor != "postgresql":
        for row in new:
            _point_at_inserted(row, new)
            insert(row)
        _point_at_inserted(obj, new)
        update(obj, field_names)
        return
    # WITH new0 AS (INSERT ... RETURNING id),
    #      new1 AS (INSERT ... SELECT ..., new0.id FROM new0 RETURNING id),
    #      updated AS (UPDATE ... SET ... = new1.id FROM new1 WHERE id = %s)
    # SELECT new0.id, new1.id FROM new0, new1
    # A row that points at an earlier one reads it FROM that row's CTE, so the
    # earlier INSERT runs first: the pks are in `new`'s order, as one by one.
    earlier: dict[int, str] = {}
    ctes, params, pks = [], [], []
    for index, row in enumerate(new):
        fields, head, returning = _insert_parts(type(row), connection.vendor)
        sqls, values, sources = _values(row, fields, add=True, earlier=earlier)
        name = f"new{index}"
        ctes.append(
            f"{name} AS ({head}SELECT {', '.join(sqls)}{_from(sources)}{returning})"
        )
        params.extend(values)
        earlier[id(row)] = name
        pks.append(f"{name}.{connection.ops.quote_name(row._meta.pk.column)}")
    fields, table, columns = _update_parts(obj, field_names)
    sqls, values, sources = _values(obj, fields, add=False, earlier=earlier)
    ctes.append(
        f"updated AS (UPDATE {table} SET {_assignments(columns, sqls)}"
        f"{_from(sources)} WHERE {_column(type(obj), 'pk')} = %s)"
    )
    params.extend([*values, obj.pk])
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH {', '.join(ctes)} SELECT {', '.join(pks)}{_from(earlier.values())}",
            params,
        )
        stored = cursor.fetchone()
    for row, pk in zip(new, stored, strict=True):
        _stored_as_new(row, pk)
    for row in [*new, obj]:
        _point_at_inserted(row, new)


def _from(sources) -> str:
    """The FROM clause reading these CTEs (each one row), or none."""
    return f" FROM {', '.join(dict.fromkeys(sources))}" if sources else ""
