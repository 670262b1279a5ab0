"""How the vote path talks to the database: statements built once, run on the connection.

A statement built per call costs its construction and its cache key (a walk of the whole
expression) before the compiled form is found; through `Session.execute` it also takes the
ORM's execution bookkeeping. On the task-and-vote cycle that was most of the server's CPU per
statement, so its statements are module constants with bound parameters, run with `run`.

On PostgreSQL (psycopg) `run` goes one step further: each statement is compiled once per set of
parameter names, and then runs straight on the driver's cursor with the types' own bind and
result conversions (`Prepared`). SQLAlchemy's per-execution machinery (an execution context,
parameter processing, a result object) cost 130 µs of CPU per statement where the driver's own
call costs 50; a vote runs four (the sign-in and three). Whenever something listens to the
engine's statements (a test counting them, tracing), the statement runs through SQLAlchemy as
usual, so listeners see every statement.
"""

from __future__ import annotations

import threading
from collections import namedtuple
from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, Executable, exc, inspect
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import instance_state

_BIND_KEYS: WeakKeyDictionary[Engine, str] = WeakKeyDictionary()


def run(session: Session, statement: Executable, params: dict[str, Any]):
    """`statement` on the session's connection, in its transaction: a result with `first`,
    `one`, `scalar_one` and `all` (rows with attribute access and `_asdict`). Pending ORM
    changes are flushed first, as Session.execute would (the connection does not autoflush)."""
    if session.new or session.dirty or session.deleted:
        session.flush()
    connection = session.connection()
    listened = connection._has_events or connection.engine._has_events
    if connection.dialect.driver == "psycopg" and not listened:
        prepared = _prepared(connection, statement, params)
        if prepared is not None:
            return prepared.execute(connection, params)
    return connection.execute(statement, params)


class Rows(list):
    """The rows a prepared statement returned, read as a SQLAlchemy result is."""

    def first(self):
        return self[0] if self else None

    def one(self):
        if len(self) != 1:
            raise exc.MultipleResultsFound() if self else exc.NoResultFound()
        return self[0]

    def scalar_one(self):
        return self.one()[0]

    def all(self) -> list:
        return list(self)


class Unprepared(Exception):
    """The statement needs SQLAlchemy's execution (Python-side defaults, expanding or literal
    parameters, duplicate or private column names): it runs that way."""


class Prepared:
    """One statement compiled for PostgreSQL for one set of parameter names: its SQL, its bind
    parameters' defaults and conversions, and its RETURNING columns' conversions."""

    def __init__(self, connection: Connection, statement: Executable, names: tuple[str, ...]):
        dialect = connection.dialect
        self.statement = statement
        compiled = statement.compile(dialect=dialect, column_keys=list(names))
        if (
            compiled.positional
            or compiled.literal_execute_params
            or compiled.post_compile_params
            or compiled.insert_prefetch
            or compiled.update_prefetch
        ):
            raise Unprepared
        self.sql = compiled.string
        self.binds: list[tuple[str, Any, bool, Callable | None]] = []
        for name, bind in compiled.binds.items():  # by rendered name (param_1 if anonymous)
            if bind.callable is not None or bind.expanding:
                raise Unprepared
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            self.binds.append((name, bind.value, bind.required, processor))
        columns = list(getattr(statement, "exported_columns", None) or ())
        try:  # rows with attribute access; duplicate or private names: SQLAlchemy's rows
            self.row = namedtuple("Row", [c.key for c in columns]) if columns else None
        except ValueError:
            raise Unprepared from None
        self.columns = columns
        # The columns' conversions, made at the first execution: some need the type the server
        # reports (a FLOAT column's, to tell float from Decimal), read from that execution's
        # description (building one costs ~4 µs a column, so it is read once).
        self.results: list[Callable | None] | None = None
        self.convert = False

    def _conversions(self, dialect, description) -> None:
        results = [
            column.type.dialect_impl(dialect).result_processor(dialect, described.type_code)
            for column, described in zip(self.columns, description, strict=True)
        ]
        self.convert = any(results)
        self.results = results

    def execute(self, connection: Connection, params: dict[str, Any]) -> Rows:
        values = {}
        for name, default, required, processor in self.binds:
            if name in params:
                value = params[name]
            elif required:
                missing = exc.InvalidRequestError(
                    f"A value is required for bind parameter {name!r}"
                )
                raise exc.StatementError(str(missing), self.sql, params, missing)
            else:
                value = default
            values[name] = processor(value) if processor is not None else value
        driver = connection.connection.dbapi_connection
        dbapi = connection.dialect.loaded_dbapi
        try:
            with driver.cursor() as cursor:
                cursor.execute(self.sql, values)
                if self.row is None:
                    fetched = []
                else:
                    if self.results is None:
                        self._conversions(connection.dialect, cursor.description)
                    fetched = cursor.fetchall()
        except dbapi.Error as error:
            # As SQLAlchemy raises it (IntegrityError, DataError…), for the error handlers; a
            # lost server connection is invalidated, so the pool never hands it out again.
            lost = connection.dialect.is_disconnect(error, driver, None)
            if lost:
                connection.invalidate(error)
            raise exc.DBAPIError.instance(
                self.sql,
                values,
                error,
                dbapi.Error,
                connection_invalidated=lost,
                dialect=connection.dialect,
            ) from error
        if self.convert:
            fetched = [
                [f(v) if f is not None else v for f, v in zip(self.results, row, strict=True)]
                for row in fetched
            ]
        return Rows(map(self.row._make, fetched)) if self.row is not None else Rows()


_PREPARED: dict[tuple, Prepared | None] = {}
_PREPARED_LOCK = threading.Lock()


def _prepared(
    connection: Connection, statement: Executable, params: dict[str, Any]
) -> Prepared | None:
    """The statement prepared for these parameter names (None: it runs through SQLAlchemy).
    Statements are module constants, so they are keyed by identity; the parameter names decide
    an INSERT's columns."""
    key = (id(statement), tuple(params))
    found = _PREPARED.get(key, False)
    if found is False or (found is not None and found.statement is not statement):
        try:
            found = Prepared(connection, statement, tuple(params))
        except Unprepared:
            found = None
        with _PREPARED_LOCK:
            _PREPARED[key] = found
    return found


def attach(session: Session, model: type, values: dict[str, Any]):
    """An instance of `model` for a row just read or written (`values`: its columns, by
    attribute name), part of the session as if the ORM had loaded it: no statement, nothing
    pending, relationships (and any column not given) loaded on first use. Built and put in the
    identity map as the ORM's loader does (no `__init__`, no attribute events, no save-update
    cascade: `Session.add` walked every relationship of the mapper, 5-6x the cost of the rest).
    When the session already holds that row, its instance is returned, unchanged, as a query
    would."""
    mapper = inspect(model)
    columns, primary_key = _shape(mapper)
    key = mapper.identity_key_from_primary_key([values[name] for name in primary_key])
    identity_map = session.identity_map
    held = identity_map.get(key)
    if held is not None:
        return held
    row = mapper.class_manager.new_instance()
    state = instance_state(row)
    state.dict.update(values)
    state.key = key
    state.identity_token = None
    state.session_id = session.hash_key
    missing = [name for name in columns if name not in values]
    if missing:
        state._expire_attributes(state.dict, missing)
    identity_map._add_unpresent(state, key)
    return row


_SHAPES: dict[Any, tuple[tuple[str, ...], tuple[str, ...]]] = {}


def _shape(mapper) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(every column attribute's name, the primary key's attribute names) of a mapper."""
    shape = _SHAPES.get(mapper)
    if shape is None:
        shape = _SHAPES[mapper] = (
            tuple(prop.key for prop in mapper.column_attrs),
            tuple(mapper.get_property_by_column(column).key for column in mapper.primary_key),
        )
    return shape


def bind_key(session: Session) -> str:
    """The database a session talks to, as process caches key it (its URL), computed once per
    engine: rendering a URL costs more than the look-up it keys."""
    engine = session.get_bind()
    key = _BIND_KEYS.get(engine)
    if key is None:
        key = _BIND_KEYS[engine] = str(engine.url)
    return key
