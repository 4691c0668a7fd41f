"""Shared-memory segments of ranks on one host: files in a tmpfs, mapped by every rank.

Owns: where segments live (`segment_dir`), the host key that says whether two ranks
can share memory at all (`host_key`), a rank's own segment (`Segment`) and a peer's
segment mapped by name and checked (`PeerSegment`). Does not own when segments are
created, probed, unlinked or grown (the protocol in `shm.py`), nor any socket.

A segment is one file, created with O_CREAT|O_EXCL|O_NOFOLLOW and mode 0600 under a
random, unguessable name (`dlcore-` + 128 random bits), its memory reserved up front
with posix_fallocate (a full tmpfs then fails here with ENOSPC, not later with SIGBUS
in the middle of a collective), and mapped MAP_SHARED. Layout:

    [ header page: MAGIC, 16-byte random token, at 64: signal words ][ slot 0 ][ slot 1 ]

(the signal words: `shm_signal.py`).

Peers open it read-only, check that it is a regular file of our uid, private, of the
expected size, and that it holds the token its creator announced over the
authenticated ring; only the creator writes to it. The protocol unlinks every file as
soon as all peers have mapped it, so a rank killed later leaks nothing; the mappings
stay valid until closed.

Leftovers: a rank killed between creating its file and the peers' unlink (SIGKILL of
the job, or the OOM killer, during the negotiation or a growth, while posix_fallocate
reserves the memory) leaves the file behind, memory of the tmpfs until reboot
(session 49: the whole 128 MB of a 16 M-parameter growth). So the creator holds a
shared flock on its file while it is linked, and `remove_leftovers` (each communicator's
negotiation) unlinks the dlcore files of our uid that nobody holds a lock on and that are
older than LEFTOVER_AGE_S (the moment between creating a file and locking it). The kernel
drops a dead process's locks, in any container that shares the tmpfs. A leftover is never
read as a later job's data: names are random, and a peer checks the announced token. On
a filesystem without flock (a configured shm_dir) files go unlocked and are never swept.

Not `multiprocessing.shared_memory`: its resource tracker unlinks segments or warns
about them at interpreter exit, and it knows nothing about our peers.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import mmap
import os
import re
import secrets
import socket
import stat
import sys
import time

import numpy as np

from dlcore.errors import CommunicationError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX (segment_dir refuses there)
    fcntl = None  # type: ignore[assignment]

MAGIC = b"dlcore.collective/shm/v1\n"
TOKEN_BYTES = 16
HEADER_BYTES = max(mmap.PAGESIZE, 4096)
SLOTS = 2
SIGNAL_OFFSET, SIGNAL_WORDS = 64, 7  # uint64 words in the header page (shm_signal.py)
GRANULE = 64 << 10  # slot capacities are multiples of this (page-aligned slots)
NAME_PREFIX = "dlcore-"
_NAME = re.compile(r"dlcore-[0-9a-f]{32}")
_BOOT_ID = "/proc/sys/kernel/random/boot_id"
_DEFAULT_DIR = "/dev/shm"
_NO_FALLOCATE = (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)
LEFTOVER_AGE_S = 60.0  # an unlocked segment file older than this is a leftover


def segment_dir(configured: str | None) -> tuple[str | None, str]:
    """(directory, "") where segments can live, or (None, why not)."""
    if configured is None:
        if sys.platform != "linux":
            return None, f"shared memory needs Linux (/dev/shm); this is {sys.platform}"
        configured = _DEFAULT_DIR
    if not os.path.isdir(configured):
        return None, f"the segment directory {configured} does not exist"
    if not os.access(configured, os.W_OK | os.X_OK):
        return None, f"the segment directory {configured} is not writable"
    return configured, ""


def host_key() -> str:
    """Hash of boot id, hostname and uid: equal keys are a precondition for sharing memory.

    Not a proof: two containers on one host share the boot id but maybe not /dev/shm,
    which is why the protocol also probes the segments themselves.
    """
    try:
        with open(_BOOT_ID, encoding="ascii") as f:
            boot_id = f.read().strip()
    except OSError:
        boot_id = ""
    uid = os.geteuid() if hasattr(os, "geteuid") else -1
    parts = ("dlcore.collective/host/v1", boot_id, socket.gethostname(), str(uid))
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def is_segment_name(name: str) -> bool:
    """True for names this module creates (so a name from a peer cannot point elsewhere)."""
    return _NAME.fullmatch(name) is not None


def slot_capacity(nbytes: int, current: int) -> int:
    """Capacity for a buffer of `nbytes`: at least 1.5x the current one, in GRANULEs.

    A pure function of its arguments, so every rank (same calls, same history) grows to
    the same capacity.
    """
    wanted = max(nbytes, current + current // 2, GRANULE)
    return -(-wanted // GRANULE) * GRANULE


def segment_bytes(capacity: int) -> int:
    return HEADER_BYTES + SLOTS * capacity


class _Mapped:
    """A mapped segment file and float32 views of its two slots."""

    def __init__(self, name: str, path: str, capacity: int, mm: mmap.mmap) -> None:
        self.name, self.path, self.capacity, self._mm = name, path, capacity, mm
        elements = capacity // 4
        self.slots = [
            np.frombuffer(mm, np.float32, elements, HEADER_BYTES + s * capacity)
            for s in range(SLOTS)
        ]
        self.words = np.frombuffer(mm, np.uint64, SIGNAL_WORDS, SIGNAL_OFFSET)

    def close(self) -> None:
        """Drop the views and unmap. A view still alive elsewhere keeps the map until GC."""
        self.slots = []
        self.words = np.zeros(0, np.uint64)
        with contextlib.suppress(BufferError):
            self._mm.close()


class Segment(_Mapped):
    """This rank's own segment: created, written by this rank only, unlinked early."""

    def __init__(
        self, name: str, path: str, capacity: int, mm: mmap.mmap, token: bytes, fd: int
    ):  # fmt: skip
        super().__init__(name, path, capacity, mm)
        self.token = token
        self.linked = True
        # holds the flock that says "alive" (remove_leftovers), as does the mapping (its dup
        # of fd, its reference to the file) until close(); ShmTransport unlinks the name by
        # path once every peer mapped it, the lock then guards nothing
        self._fd = fd

    @classmethod
    def create(cls, directory: str, capacity: int) -> Segment:
        name = NAME_PREFIX + secrets.token_hex(16)
        path = os.path.join(directory, name)
        size = segment_bytes(capacity)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            _hold(fd)  # first: an unlocked file is a leftover (remove_leftovers)
            os.fchmod(fd, 0o600)  # whatever the umask
            _reserve(fd, size)
            mm = mmap.mmap(fd, size, mmap.MAP_SHARED | _POPULATE, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(path)
            os.close(fd)
            raise
        token = secrets.token_bytes(TOKEN_BYTES)
        mm[: len(MAGIC) + TOKEN_BYTES] = MAGIC + token
        return cls(name, path, capacity, mm, token, fd)

    def unlink(self) -> None:
        """Remove the name (then drop the lock); the memory lives on while any rank has it
        mapped. Idempotent."""
        if self.linked:
            self.linked = False
            try:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path)
            finally:  # a failed unlink (EACCES, EROFS) must not keep the fd and its lock
                os.close(self._fd)

    def close(self) -> None:
        try:
            self.unlink()
        finally:  # the mapping holds the file (and so the lock) too: CPython's mmap dup()s fd
            super().close()


class PeerSegment(_Mapped):
    """A peer's segment, opened read-only by the name and token it sent over the ring."""

    @classmethod
    def open(cls, directory: str, name: str, capacity: int, token: bytes) -> PeerSegment:
        """Map it, or raise CommunicationError saying why it is not the peer's segment."""
        if not is_segment_name(name):
            raise CommunicationError(f"{name!r} is not a dlcore segment name")
        path = os.path.join(directory, name)
        size = segment_bytes(capacity)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise CommunicationError(f"cannot open {path}: {exc.strerror}") from None
        try:
            _check_file(os.fstat(fd), path, size)
            mm = mmap.mmap(fd, size, mmap.MAP_SHARED | _POPULATE, mmap.PROT_READ)
        finally:
            os.close(fd)
        header = mm[: len(MAGIC) + TOKEN_BYTES]
        if not hmac.compare_digest(header, MAGIC + token):
            mm.close()
            raise CommunicationError(f"{path} does not hold the token its creator announced")
        return cls(name, path, capacity, mm)


def _hold(fd: int) -> None:
    """Take the shared flock that marks a linked segment file as alive. A filesystem
    without flock (ENOLCK, EOPNOTSUPP, ENOSYS: some network and FUSE ones a configured
    shm_dir may be on) goes without it: remove_leftovers cannot lock such files either and
    leaves them alone, so only the sweep is lost there, not shared memory."""
    if fcntl is None:  # pragma: no cover - not POSIX
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EINTR):
            raise  # a sweep holds it (it found the file unlocked and old): being removed


def remove_leftovers(directory: str, min_age_s: float = LEFTOVER_AGE_S) -> tuple[int, int]:
    """Unlink the segment files in `directory` left by dlcore processes that died before
    their peers unlinked them: our uid's, unlocked (their creator, who holds a shared
    flock while linked, is gone) and older than `min_age_s`. Returns (files, bytes freed).
    Never raises: a file it cannot look at is not its business."""
    if fcntl is None:  # pragma: no cover - not POSIX
        return 0, 0
    try:
        names = [name for name in os.listdir(directory) if is_segment_name(name)]
    except OSError:
        return 0, 0
    removed = freed = 0
    now = time.time()
    for name in names:
        path = os.path.join(directory, name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            continue  # gone meanwhile, a link, not ours to read
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
                continue
            if now - st.st_mtime < min_age_s:
                continue  # maybe between its creation and its lock
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its creator is alive
            os.unlink(path)
            removed, freed = removed + 1, freed + st.st_blocks * 512
        except OSError:
            continue
        finally:
            os.close(fd)
    return removed, freed


_POPULATE = getattr(mmap, "MAP_POPULATE", 0)  # pre-fault: no page faults in the first call


def _reserve(fd: int, size: int) -> None:
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno not in _NO_FALLOCATE:
            raise
        os.ftruncate(fd, size)  # a filesystem without fallocate: sparse, as a last resort


def _check_file(st: os.stat_result, path: str, size: int) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise CommunicationError(f"{path} is not a regular file")
    if st.st_uid != os.geteuid():
        raise CommunicationError(f"{path} belongs to uid {st.st_uid}, not to us ({os.geteuid()})")
    if st.st_mode & 0o077:
        raise CommunicationError(f"{path} has mode {st.st_mode & 0o777:o}, expected 600")
    if st.st_size != size:
        raise CommunicationError(f"{path} has {st.st_size} bytes, expected {size}")
