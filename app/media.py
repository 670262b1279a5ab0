"""Content-addressed media store: originals for metrics, metadata-free re-encodes for annotators.

Two uploads of the same image share one file, so clean-up must never delete a file that
another transaction may reference. The rule here: an upload writes only temporary files
(tmp/), and links them into place just before its database transaction commits; a failed
upload deletes only its own temporary files. A file in place is removed only by the garbage
collector (`arena media gc`), and only when no row references it and it is older than a grace
period. A shared lock held from the link to the end of the commit, and an exclusive one held by
the collector around its check-and-delete, keep the two from interleaving (flock: one host).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

_STAGED = "media_staged"
_LOCK = "media_lock"
MANAGED_DIRS = ("originals", "served")


@dataclass
class Staged:
    """One image's files written under temporary names: (temporary, final) pairs."""

    sha256: str
    files: list[tuple[Path, Path]] = field(default_factory=list)
    new: bool = False  # at least one final file was absent when staged

    def discard(self) -> None:
        for tmp, _final in self.files:
            tmp.unlink(missing_ok=True)
        self.files = []


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def original_path(self, sha256: str) -> Path:
        return self.root / "originals" / sha256[:2] / sha256

    def served_path(self, sha256: str) -> Path:
        return self.root / "served" / sha256[:2] / f"{sha256}.png"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    def stage(self, sha256: str, original: bytes, served: bytes) -> Staged:
        """Write both files under temporary names; nothing is visible until attach + commit."""
        return self.stage_files(
            sha256, [(self.original_path(sha256), original), (self.served_path(sha256), served)]
        )

    def stage_files(self, key: str, files: list[tuple[Path, bytes]]) -> Staged:
        """Write (final path, bytes) pairs under temporary names, for attach() or put_bytes()."""
        staged = Staged(key)
        try:
            for final, data in files:
                staged.new = staged.new or not final.exists()
                staged.files.append((_write_temp(self.tmp_dir, data), final))
        except BaseException:
            staged.discard()
            raise
        return staged

    def put_bytes(self, session: Session | None, final: Path, data: bytes) -> bool:
        """Any other content-addressed file under the store, with the same commit rule as put()."""
        staged = self.stage_files(final.name, [(final, data)])
        if session is None:
            with self.shared_lock():
                _link_into_place(staged)
        else:
            self.attach(session, staged)
        return staged.new

    def attach(self, session: Session, staged: Staged) -> None:
        """Link `staged` into place when `session` commits; delete its temporaries either way."""
        if not session.in_transaction():
            session.begin()  # so that the transaction's end (commit, rollback, close) is seen
        session.info.setdefault(_STAGED, []).append((self, staged))

    def put(self, session: Session | None, sha256: str, original: bytes, served: bytes) -> bool:
        """Store both files (on commit of `session`, at once without one); True when new."""
        staged = self.stage(sha256, original, served)
        if session is None:
            with self.shared_lock():
                _link_into_place(staged)
        else:
            self.attach(session, staged)
        return staged.new

    def read_served(self, sha256: str) -> bytes:
        return self.served_path(sha256).read_bytes()

    @contextmanager
    def shared_lock(self) -> Iterator[None]:
        with self._locked(fcntl.LOCK_SH):
            yield

    @contextmanager
    def exclusive_lock(self) -> Iterator[None]:
        with self._locked(fcntl.LOCK_EX):
            yield

    @contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        # flock on the store's directory itself: no lock file, released when the fd closes.
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root, os.O_RDONLY)
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)


def _write_temp(directory: Path, data: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, prefix="upload-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _link_into_place(staged: Staged) -> None:
    for tmp, final in staged.files:
        final.parent.mkdir(parents=True, exist_ok=True)
        # Atomic, and never replaces a file that another upload already put there.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, final)
        tmp.unlink(missing_ok=True)
    staged.files = []


def install_media_hooks(factory: sessionmaker[Session]) -> None:
    """Link staged files into place before a commit; drop temporaries when it ends."""

    @event.listens_for(factory, "before_commit")
    def _link(session: Session) -> None:
        pending = session.info.get(_STAGED)
        if not pending:
            return
        # Held until the transaction ends: the collector cannot judge these files unreferenced
        # between their link and the commit of the rows that reference them.
        lock = pending[0][0].shared_lock()
        lock.__enter__()
        session.info[_LOCK] = lock
        for _store, staged in pending:
            _link_into_place(staged)

    @event.listens_for(factory, "after_transaction_end")
    def _finish(session: Session, transaction) -> None:
        if transaction.parent is not None:
            return
        for _store, staged in session.info.pop(_STAGED, []):
            staged.discard()
        lock = session.info.pop(_LOCK, None)
        if lock is not None:
            lock.__exit__(None, None, None)


@dataclass
class GcReport:
    removed: list[Path] = field(default_factory=list)
    removed_bytes: int = 0
    kept_referenced: int = 0
    kept_young: int = 0

    def remove(self, path: Path, dry_run: bool) -> None:
        try:
            self.removed_bytes += path.stat().st_size
        except FileNotFoundError:
            return
        self.removed.append(path)
        if not dry_run:
            path.unlink(missing_ok=True)


def collect_garbage(
    store: MediaStore,
    referenced: Callable[[set[str]], set[str]],
    grace_seconds: float,
    *,
    dry_run: bool = False,
    chunk: int = 500,
) -> GcReport:
    """Remove temporaries and stored files that no row references, once older than the grace.

    `referenced(shas)` returns the subset of `shas` that some row still uses; it is asked under
    the exclusive lock, chunk by chunk, so no upload commits in between.
    """
    report = GcReport()
    cutoff = time.time() - grace_seconds
    if store.tmp_dir.exists():
        for path in sorted(store.tmp_dir.iterdir()):
            if _older(path, cutoff):
                report.remove(path, dry_run)
            else:
                report.kept_young += 1
    candidates: list[tuple[str, Path]] = []
    for directory in MANAGED_DIRS:
        base = store.root / directory
        if not base.exists():
            continue
        for path in sorted(base.glob("*/*")):
            if not path.is_file():
                continue
            if _older(path, cutoff):
                candidates.append((path.name.split(".")[0], path))
            else:
                report.kept_young += 1
    for start in range(0, len(candidates), chunk):
        part = candidates[start : start + chunk]
        with store.exclusive_lock():
            used = referenced({sha for sha, _ in part})
            for sha, path in part:
                if sha in used:
                    report.kept_referenced += 1
                    continue
                report.remove(path, dry_run)
    return report


def _older(path: Path, cutoff: float) -> bool:
    try:
        return path.stat().st_mtime < cutoff
    except FileNotFoundError:
        return False
