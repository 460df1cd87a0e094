"""The turn store's fixed-shape statements, built once per model and database.

The ORM builds each statement anew on every call (the query, its compiler, the
placeholders and quoting): for a turn store's SELECT, two INSERTs and UPDATE that
was most of its CPU time, held on the database thread while the event loop waits
for the GIL (bench/README.md, figure 4). The statements here are the ones the ORM
would send, kept as SQL text; the values still go through each field's own
conversion, so what is stored (and read back) is the same.

No signals are sent (`Model.save` sends pre_save/post_save): only for models that
have no receivers (the message and the conversation).
"""

from functools import cache

from django.db import connection
from django.db.models import Model
from django.db.transaction import TransactionManagementError


@cache
def _locked_select(model: type[Model], vendor: str, field: str):
    """SELECT every column of one row by a unique field, row-locked where the
    database can."""
    query = model.objects.filter(**{field: 0})
    if connection.features.has_select_for_update:
        query = query.select_for_update()
    compiler = query.query.get_compiler(connection=connection)
    sql, _ = compiler.as_sql()
    columns = [column for column, _, _ in compiler.select]
    # Bound to the first caller's `connection.ops`, but each call passes its own
    # thread's connection to them.
    converters = list(compiler.get_converters(columns).items())
    names = [field.attname for field in model._meta.concrete_fields]
    return sql, converters, names


def get_locked(model: type[Model], field: str, value) -> Model:
    """`model.objects.select_for_update().get(<field>=value)` for a unique field,
    built once. Raises model.DoesNotExist as `get` does.

    Inside a transaction only, as `select_for_update`: the ORM checks that when it
    builds the statement, which happens here once."""
    if connection.features.has_select_for_update and not connection.in_atomic_block:
        raise TransactionManagementError("get_locked runs inside a transaction")
    sql, converters, names = _locked_select(model, connection.vendor, field)
    with connection.cursor() as cursor:
        cursor.execute(sql, [value])
        row = cursor.fetchone()
    if row is None:
        raise model.DoesNotExist(f"{model.__name__} matching query does not exist.")
    row = list(row)
    for index, (functions, expression) in converters:
        for convert in functions:
            row[index] = convert(row[index], expression, connection)
    return model.from_db(connection.alias, names, row)


@cache
def _insert_parts(model: type[Model], vendor: str):
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    returning = ""
    if connection.features.can_return_columns_from_insert:
        returning = f" RETURNING {connection.ops.quote_name(model._meta.pk.column)}"
    return fields, f"INSERT INTO {table} ({columns}) VALUES ", returning


def insert(obj: Model) -> None:
    """`obj.save()` of a new row (no signals): INSERT it and set its pk.

    A field whose value is a database function needing no resolving (`Now()`) is
    compiled into the statement and, as after `save`, left on the instance as the
    expression; an `F()` or anything that refers to columns is not supported.
    """
    fields, head, returning = _insert_parts(type(obj), connection.vendor)
    compiler = None
    placeholders, params = [], []
    for field in fields:
        value = field.pre_save(obj, add=True)
        if hasattr(value, "resolve_expression"):
            if compiler is None:
                query = type(obj).objects.none().query
                compiler = query.get_compiler(connection=connection)
            sql, expression_params = compiler.compile(value)
            placeholders.append(sql)
            params.extend(expression_params)
        else:
            placeholders.append("%s")
            params.append(field.get_db_prep_save(value, connection))
    with connection.cursor() as cursor:
        cursor.execute(f"{head}({', '.join(placeholders)}){returning}", params)
        pk = cursor.fetchone()[0] if returning else cursor.lastrowid
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = connection.alias


def update(obj: Model, field_names: list[str]) -> None:
    """`obj.save(update_fields=field_names)` (no signals): one UPDATE by pk."""
    meta = obj._meta
    fields = [meta.get_field(name) for name in field_names]
    # pre_save: auto_now fields take the time now, on the instance too.
    values = [
        field.get_db_prep_save(field.pre_save(obj, add=False), connection)
        for field in fields
    ]
    assignments = ", ".join(
        f"{connection.ops.quote_name(f.column)} = %s" for f in fields
    )
    table = connection.ops.quote_name(meta.db_table)
    pk_column = connection.ops.quote_name(meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {assignments} WHERE {pk_column} = %s",
            [*values, obj.pk],
        )
