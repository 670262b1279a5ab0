"""How the vote path talks to the database: statements built once, run on the connection.

A statement built per call costs its construction and its cache key (a walk of the whole
expression) before the compiled form is found; through `Session.execute` it also takes the
ORM's execution bookkeeping. On the task-and-vote cycle that was most of the server's CPU per
statement, so its statements are module constants with bound parameters, run with `run`.
"""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import CursorResult, Engine, Executable
from sqlalchemy.orm import Session, make_transient_to_detached

_BIND_KEYS: WeakKeyDictionary[Engine, str] = WeakKeyDictionary()


def run(session: Session, statement: Executable, params: dict[str, Any]) -> CursorResult:
    """`statement` on the session's connection, in its transaction. Pending ORM changes are
    flushed first, as Session.execute would (the connection does not autoflush)."""
    if session.new or session.dirty or session.deleted:
        session.flush()
    return session.connection().execute(statement, params)


def attach(session: Session, model: type, values: dict[str, Any]):
    """An instance of `model` for a row just written and returned (`values`: every column),
    made part of the session as if loaded: no statement, nothing pending."""
    row = model(**values)
    make_transient_to_detached(row)
    session.add(row)
    return row


def bind_key(session: Session) -> str:
    """The database a session talks to, as process caches key it (its URL), computed once per
    engine: rendering a URL costs more than the look-up it keys."""
    engine = session.get_bind()
    key = _BIND_KEYS.get(engine)
    if key is None:
        key = _BIND_KEYS[engine] = str(engine.url)
    return key
