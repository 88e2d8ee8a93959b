"""One writer at a time per store folder: an exclusive lock on the folder itself.

The lock is ``flock`` on the folder's own file descriptor, so it creates nothing in the
folder, and the operating system releases it when the process dies (a killed kernel
leaves no stale lock). It is advisory: it keeps lensnb writers (an extraction, a save)
apart, in this process and in others. Where ``fcntl`` does not exist (Windows), or the file
system refuses locks (some network file systems: a warning says so), there is no lock,
and two writers must not share a folder.
"""

from __future__ import annotations

import errno
import os
import warnings
from pathlib import Path

from lensnb.errors import LensError

__all__ = ["StoreLock", "lock_if_free"]

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None


_NO_LOCKS = {errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL}  # some network file systems


class StoreLock:
    """An exclusive lock on an existing folder, held until :meth:`release`.

    Parameters
    ----------
    path : Path
        The folder (it must exist).
    argument : str
        The name errors give the folder (``"store"``, ``"path"``).
    warn : bool
        Warn where the file system refuses locks (then there is no lock).
    kind : str
        What the folder is, in messages (``"store"``; ``"checkpoint"``).
    writers : str
        Who else may be writing it, in messages.

    Raises
    ------
    LensError
        When another writer holds the lock.
    """

    def __init__(
        self, path: Path, argument: str, warn: bool = True, kind: str = "store", writers: str = "extraction or save"
    ):
        self.path = path
        self._descriptor = -1
        if fcntl is None:
            return
        descriptor = _open_folder(path, argument)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise LensError.bad_argument(
                argument, str(path), f"a {kind} folder no other lensnb writer is using",
                f"Another {writers} (in this process or another) is writing it now. Wait for it to finish, "
                "or use another folder.",
            ) from None  # fmt: skip
        except OSError as error:
            os.close(descriptor)
            if error.errno not in _NO_LOCKS:
                raise
            if not warn:
                return
            warnings.warn(
                f"{argument}: the file system holding {path} does not support locks ({error.strerror}); lensnb "
                f"cannot keep a second writer out of this folder, so run one {writers} into it at a time.",
                stacklevel=3,
            )
            return
        except BaseException:
            os.close(descriptor)
            raise
        self._descriptor = descriptor

    @property
    def held(self) -> bool:
        """Whether this object holds the lock (False where locks are not available, or after :meth:`release`)."""
        return self._descriptor >= 0

    def release(self) -> None:
        """Let the next writer in (idempotent)."""
        if self._descriptor >= 0:
            os.close(self._descriptor)  # closing the descriptor drops the flock
            self._descriptor = -1


def lock_if_free(path: Path) -> StoreLock | None:
    """The lock on the folder ``path`` where no one holds it, else None.

    None also where it cannot be told: no locks on this platform or file system, a
    folder that cannot be opened (or is gone). So a caller that removes what it finds
    unlocked removes nothing of a live writer's.

    Parameters
    ----------
    path : Path
        The folder.

    Returns
    -------
    StoreLock or None
        Held until its :meth:`~StoreLock.release`.
    """
    if fcntl is None:
        return None
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held by another writer (BlockingIOError), or no locks on this file system
        os.close(descriptor)
        return None
    except BaseException:
        os.close(descriptor)
        raise
    lock = StoreLock.__new__(StoreLock)
    lock.path, lock._descriptor = path, descriptor
    return lock


def _open_folder(path: Path, argument: str) -> int:
    """A descriptor of the folder ``path`` to lock, or a LensError where it may not be opened."""
    try:
        return os.open(path, os.O_RDONLY)
    except PermissionError as error:
        raise LensError.bad_argument(
            argument,
            str(path),
            "a folder lensnb may open",
            f"{error.strerror}: choose a folder you can read and write.",
        ) from None
