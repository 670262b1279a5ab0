"""Engine and session factory, and the request-scoped session that commits before responding."""

from __future__ import annotations

import asyncio
import contextvars
import select
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Annotated

import anyio
from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker

from app.settings import Settings

AFTER_COMMIT = "arena.after_commit"


def make_engine(settings: Settings) -> Engine:
    url = settings.database_url
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # pragma: no cover - trivial
            cursor = dbapi_connection.cursor()
            # Foreign keys are off by default in SQLite; WAL lets readers run beside the one writer.
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    engine = create_engine(url, pool_size=pool_size(settings), max_overflow=0, pool_timeout=30)
    event.listen(engine, "checkout", _refuse_ended_connection)
    return engine


def _refuse_ended_connection(dbapi_connection, _record, _proxy) -> None:
    """A pooled connection the server has ended is never handed out: the pool drops it and
    checks out another (SQLAlchemy's "pessimistic disconnect handling").

    Told without a round trip (pool_pre_ping sends an empty query on every checkout, one more
    round trip on every request): an idle connection has nothing to read unless the server
    wrote to it, and what it writes unasked is the notice that it ends the session (a restart,
    pg_terminate_backend, idle timeouts) before closing the socket. (A reported setting changed
    by a configuration reload is written unasked too: that connection is replaced as well, at
    the cost of one reconnection.)"""
    if dbapi_connection.closed or dbapi_connection.broken:
        raise exc.DisconnectionError("the connection is closed")
    waiting = select.poll()
    waiting.register(dbapi_connection.pgconn.socket, select.POLLIN | select.POLLPRI)
    if waiting.poll(0):
        raise exc.DisconnectionError("the server ended the connection")


def pool_size(settings: Settings) -> int:
    """Connections per process: one per web thread, plus one per thread for database-counted
    rate limits (see Settings.web_threads)."""
    if settings.db_pool_size is not None:
        return settings.db_pool_size
    storage = settings.rate_limit_storage
    shared_in_db = storage == "database"
    return settings.web_threads * (2 if shared_in_db else 1) + 2


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    from app.media import install_media_hooks
    from app.services.studies.slots import install_pool_hooks

    install_media_hooks(factory)
    install_pool_hooks(factory)
    return factory


def on_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the request's transaction is committed, still before the response
    is sent (a vote is counted and the board told only once it is durable)."""
    session.info.setdefault(AFTER_COMMIT, []).append(callback)


def _commit_and_notify(session: Session) -> None:
    session.commit()
    for callback in session.info.pop(AFTER_COMMIT, ()):
        callback()


def _commit(session: Session) -> None:
    """Commit, run the after-commit callbacks, release the connection (rolled back if the
    commit fails)."""
    try:
        _commit_and_notify(session)
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _discard(session: Session) -> None:
    try:
        session.rollback()
    finally:
        session.close()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request: the one place a request's writes are committed (on success,
    before the response is sent: NOTES.md pitfall) or rolled back (on any error, including an
    ArenaError the routes raise for the error pages). Routes never commit (the vote takes no
    session dependency: `session_in_this_thread`).

    Opening a session does no I/O, so it happens on the event loop. The commit (or rollback)
    and the connection's release run on threads of their own (`commit_executor`), shielded from
    cancellation: a request that finished its work holds a connection, and if it had to wait for
    one of the route threads, which may all be waiting for a connection, neither would move."""
    state = request.app.state
    session: Session = state.session_factory()
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()  # the request id, for anything logged on the way
    try:
        yield session
    except BaseException:
        with anyio.CancelScope(shield=True):
            await loop.run_in_executor(state.commit_executor, context.run, _discard, session)
        raise
    with anyio.CancelScope(shield=True):
        await loop.run_in_executor(state.commit_executor, context.run, _commit, session)


@contextmanager
def session_in_this_thread(request: Request) -> Iterator[Session]:
    """A request's session for a route that does all its database work in one thread of its own
    (the vote, whose route takes no dependencies): committed here when the block ends, the
    after-commit callbacks run, or rolled back on any error; the connection is released before
    the response is sent either way. As get_session, without its two trips between threads."""
    session: Session = request.app.state.session_factory()
    try:
        yield session
    except BaseException:
        _discard(session)
        raise
    _commit(session)


def commit_executor(settings: Settings) -> ThreadPoolExecutor:
    """The threads that finish requests' transactions: one per pooled connection."""
    return ThreadPoolExecutor(max_workers=pool_size(settings), thread_name_prefix="commit")


# scope="function": the code after `yield` (the commit) runs before FastAPI sends the response,
# so a vote or batch is acknowledged only once it is durable.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
