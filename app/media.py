"""Content-addressed media store: originals for metrics, metadata-free re-encodes for annotators.

Files written inside a database transaction are removed again if that transaction does not
commit, so a failed upload leaves no file behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

_NEW_FILES = "media_new_files"


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def original_path(self, sha256: str) -> Path:
        return self.root / "originals" / sha256[:2] / sha256

    def served_path(self, sha256: str) -> Path:
        return self.root / "served" / sha256[:2] / f"{sha256}.png"

    def put(self, session: Session | None, sha256: str, original: bytes, served: bytes) -> bool:
        """Store both files unless present; returns True when they are new in this store."""
        new = False
        for path, data in (
            (self.original_path(sha256), original),
            (self.served_path(sha256), served),
        ):
            if path.exists():
                continue
            _atomic_write(path, data)
            new = True
            if session is not None:
                session.info.setdefault(_NEW_FILES, []).append(path)
        return new

    def read_served(self, sha256: str) -> bytes:
        return self.served_path(sha256).read_bytes()


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def install_rollback_cleanup(factory: sessionmaker[Session]) -> None:
    """Delete files stored during a transaction that ends without a commit."""

    @event.listens_for(factory, "after_commit")
    def _keep(session: Session) -> None:
        session.info.pop(_NEW_FILES, None)

    @event.listens_for(factory, "after_transaction_end")
    def _discard(session: Session, transaction) -> None:
        if transaction.parent is not None:
            return
        for path in session.info.pop(_NEW_FILES, []):
            Path(path).unlink(missing_ok=True)
