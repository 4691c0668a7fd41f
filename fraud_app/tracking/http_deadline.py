"""A total deadline for each MLflow REST request, so that a tracking server that trickles
its answer cannot hang a command.

MLflow's per-request timeout (MLFLOW_HTTP_REQUEST_TIMEOUT, which the CLI sets from
tracking.connect_timeout_s) is requests' timeout per socket read: each byte restarts it.
A server sending a header line every 0.4 s made `fraud-app models` fail only after 87 s
(http.client's 100-header limit, twice with the retry); one sending `Content-Length:
100000` and then a byte every 0.4 s would have taken 11 hours (docs/PROBES.md, probe46c).

The choice: a deadline at the HTTP layer, in the requests sessions MLflow makes
(`mlflow.utils.request_utils._get_request_session`, wrapped once when a store is opened,
fraud_app.tracking.client). Each request to the tracking / registry REST API
(`/api/<version>/mlflow/...`) gets a deadline; a watchdog thread shuts down the sockets it
uses when the deadline passes, which ends a blocked read in whatever thread made it, and
the request's next attempt (urllib3's retry) is refused. The request then raises
RequestDeadlineExceeded (MLflow wraps it in an MlflowException; `deadline_exceeded` finds
it). Weighed against a SIGALRM/setitimer deadline in the CLI's main thread: that one does
not reach the training's tracking thread (it runs MLflow calls beside training) nor
a notebook's or a test's calls outside the main thread, and it would have to wrap each
store call of every command. Here a normal request pays a lock and a thread-local, and
the watchdog sleeps until the earliest deadline (it is woken only when a request's deadline
is earlier than the one it waits for).

The deadline: tracking.request_deadline_s; unset, (MLFLOW_HTTP_REQUEST_MAX_RETRIES + 2) x
the per-request timeout (30 s with the CLI's defaults: 1 retry, 10 s): every attempt its full
per-read time, and one more for the back-off between them and a slow but steady answer.
Artifact transfers (`/api/2.0/mlflow-artifacts/...`, a cloud store's pre-signed URL) are
left to the per-read timeout: their time grows with the model's size. The connect of an
attempt is bounded by the per-request timeout as before; after the deadline none starts,
and a retry whose wait (urllib3's back-off, a 429/503's Retry-After) would end past it is
an error at once (review46c: deadline46 slept the wait through). Installed for a server
store only (fraud_app.tracking.client): a database or file store wraps nothing.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import socket
import threading
import time
from dataclasses import dataclass

from fraud_app.errors import TrackingError, in_chain
from fraud_app.uris import redacted

logger = logging.getLogger(__name__)

_REST_API = re.compile(r"/api/\d+\.\d+/mlflow/")  # not mlflow-artifacts, not a cloud URL
_RECHECK_S = 0.25  # an expired request still running: its sockets shut again this often


@dataclass(frozen=True)
class Deadline:
    uri: str  # the tracking URI, as configured (shown redacted)
    seconds: float
    source: str  # the setting it comes from, for the error message


class RequestDeadlineExceeded(TrackingError):
    """A request to the tracking server did not finish within its total deadline."""

    def __init__(self, deadline: Deadline, doing: str = "", answered: str = "") -> None:
        self.deadline = deadline
        self.answered = answered  # "HTTP 503 and asked to retry after 60s"
        d = deadline
        where = f"tracking server {redacted(d.uri)} {doing + ': ' if doing else ''}"
        if answered:
            super().__init__(
                f"{where}answered {answered}, past the total time of one request "
                f"({d.seconds:g}s; {d.source}): it is overloaded or restarting. Try again "
                "later, raise tracking.request_deadline_s, or set tracking.enabled: false"
            )
            return
        super().__init__(
            f"{where}did not finish "
            f"answering within {d.seconds:g}s (the total time of one request; {d.source}): "
            "it accepts connections but sends its answer too slowly or never ends it. Check "
            "that an MLflow server listens there (not another service) and is not stuck or "
            "overloaded (its logs), raise tracking.request_deadline_s, or set "
            "tracking.enabled: false"
        )

    def again(self, doing: str) -> RequestDeadlineExceeded:
        """The same, saying what the command was doing."""
        return RequestDeadlineExceeded(self.deadline, doing, self.answered)


_deadline: Deadline | None = None  # of the store opened last (fraud_app.tracking.client)
_local = threading.local()
_install_lock = threading.Lock()


def install(deadline: Deadline) -> None:
    """Bound every MLflow REST request of this process from now on by `deadline` (the
    store opened last sets it; tests/conftest.py puts it back after each test). Written for
    MLflow 3.17.2 (pyproject.toml pins it): where its request_utils no longer makes its
    sessions through `_get_request_session`, a warning says the deadline is not applied
    (each socket read keeps its per-request timeout, as before) and nothing is wrapped."""
    global _deadline
    from mlflow.utils import request_utils

    with _install_lock:
        current = getattr(request_utils, "_get_request_session", None)
        if getattr(current, "_fraud_app_deadline", False):
            _deadline = deadline
            return
        caller = getattr(request_utils, "_get_http_response_with_retries", None)
        names = getattr(getattr(caller, "__code__", None), "co_names", ())
        if current is None or "_get_request_session" not in names:
            _deadline = None
            _not_applied(
                "mlflow.utils.request_utils has no _get_request_session that "
                "_get_http_response_with_retries calls"
            )
            return

        @functools.wraps(current)
        def get_session(*args, **kwargs):
            return _armed(current(*args, **kwargs))

        get_session._fraud_app_deadline = True
        request_utils._get_request_session = get_session
        _deadline = deadline


@functools.cache  # once per process
def _not_applied(why: str) -> None:
    import mlflow

    logger.warning(
        "tracking.request_deadline_s is not applied with MLflow %s (written for 3.17.2): %s; "
        "each socket read of a request to the tracking server keeps its per-request timeout "
        "only, and a server that trickles its answer can hold the command",
        mlflow.__version__,
        why,
    )


def current() -> Deadline | None:
    return _deadline


def restore(deadline: Deadline | None) -> None:
    """Set back what `current` returned (the wrapping of MLflow's sessions stays: with no
    deadline it passes each request through)."""
    global _deadline
    _deadline = deadline


def deadline_exceeded(exc: BaseException | None) -> RequestDeadlineExceeded | None:
    """The RequestDeadlineExceeded behind `exc` (MLflow re-raises what a request raised as
    an MlflowException of its own, with the original as its context), else None."""
    return in_chain(exc, RequestDeadlineExceeded)


def _armed(session):
    """MLflow's (cached) session with the deadline on `request` and connection pools that
    tell the running request which connections it uses."""
    if getattr(session, "_fraud_app_deadline", False):
        return session
    from urllib3 import poolmanager

    adapters = list(getattr(session, "adapters", {}).values())
    if not adapters or not all(hasattr(a, "poolmanager") for a in adapters):
        _not_applied(f"its session {type(session).__name__} has no requests adapters")
        return session
    for adapter in adapters:
        adapter.max_retries = _bounded(adapter.max_retries)
        _track_pools(adapter.poolmanager, poolmanager.pool_classes_by_scheme)
        adapter.proxy_manager_for = _tracking_proxies(adapter.proxy_manager_for)
    session.request = functools.partial(_request, session.request)
    session._fraud_app_deadline = True
    return session


def _track_pools(manager, defaults) -> None:
    if manager.pool_classes_by_scheme is defaults:  # not a SOCKS manager's own classes
        manager.clear()  # pools made before: not of our classes
        manager.pool_classes_by_scheme = _pool_classes()


def _tracking_proxies(proxy_manager_for):
    def wrapped(proxy, **kwargs):
        from urllib3 import poolmanager

        manager = proxy_manager_for(proxy, **kwargs)
        _track_pools(manager, poolmanager.pool_classes_by_scheme)
        return manager

    return wrapped


def _bounded(retry):
    """urllib3's Retry of the adapter, whose wait before a retry (the back-off, a 429/503's
    Retry-After) does not run past the deadline: deadline46 slept a `Retry-After: 3600`
    through, then said the server answered too slowly (review46c)."""
    cls = _retry_class(type(retry))
    if isinstance(retry, cls):
        return retry
    bounded = cls.__new__(cls)
    bounded.__dict__.update(retry.__dict__)
    return bounded


@functools.cache
def _retry_class(base):
    class DeadlineRetry(base):
        def sleep(self, response=None):
            request = getattr(_local, "request", None)
            if request is not None and response is not None:  # None: a failed read
                asked = self.get_retry_after(response) if self.respect_retry_after_header else None
                wait = asked or self.get_backoff_time()
                if time.monotonic() + wait >= request.at:
                    after = (
                        f" and asked to retry after {wait:g}s" if asked
                        else f", whose retry waits a {wait:g}s back-off" if wait else ""
                    )  # fmt: skip
                    raise RequestDeadlineExceeded(
                        request.deadline, answered=f"HTTP {response.status}{after}"
                    )
            return super().sleep(response)

    return DeadlineRetry


@functools.cache
def _pool_classes() -> dict:
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class Tracked:
        def _get_conn(self, timeout=None):
            request = getattr(_local, "request", None)
            if request is not None and request.expired:
                raise request.error()  # urllib3's retry after the deadline: no new attempt
            conn = super()._get_conn(timeout)
            if request is not None:
                request.conns.append(conn)
            return conn

        def _put_conn(self, conn):
            # back in the pool (a redirect's first answer read): another thread may take it
            request = getattr(_local, "request", None)
            if request is not None:
                with request.lock:  # not while the watchdog shuts its sockets (_Request)
                    if conn in request.conns:
                        request.conns.remove(conn)
            return super()._put_conn(conn)

    return {
        "http": type("DeadlineHTTPConnectionPool", (Tracked, HTTPConnectionPool), {}),
        "https": type("DeadlineHTTPSConnectionPool", (Tracked, HTTPSConnectionPool), {}),
    }


class _Request:
    __slots__ = ("at", "conns", "deadline", "expired", "lock")

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self.at = time.monotonic() + deadline.seconds
        self.conns: list = []
        self.expired = False
        # held while its sockets are shut and while one leaves `conns` for the pool: else one
        # put back and taken by another thread's request meanwhile was shut under that one
        # (review46c: deadline46 shut from a copy of the list, without a lock)
        self.lock = threading.Lock()

    def expire(self) -> None:
        """Shut down the sockets of its connections: a read blocked on one returns."""
        with self.lock:
            self.expired = True
            self._shut()

    def _shut(self) -> None:
        for conn in self.conns:
            sock = getattr(conn, "sock", None)
            # urllib3's SSLTransport (TLS in TLS, through an HTTPS proxy) is no socket: the
            # one it wraps (review46c: socket.socket.shutdown(transport) raised TypeError,
            # which ended the watchdog thread and with it every deadline of the process)
            while sock is not None and not isinstance(sock, socket.socket):
                sock = getattr(sock, "socket", None)
            if sock is not None:
                # socket.socket's own: an SSLSocket's drops its TLS state under the reading
                # thread; OSError: closed already
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def error(self) -> RequestDeadlineExceeded:
        return RequestDeadlineExceeded(self.deadline)


def _request(original, method, url, *args, **kwargs):
    deadline = _deadline
    nested = getattr(_local, "request", None) is not None  # a redirect: the same deadline
    if deadline is None or nested or not _REST_API.search(str(url)):
        return original(method, url, *args, **kwargs)
    request = _Request(deadline)
    _local.request = request
    _watchdog.add(request)
    try:
        response = original(method, url, *args, **kwargs)
    except Exception as exc:
        if request.expired:
            raise request.error() from exc
        raise
    finally:
        _watchdog.remove(request)
        _local.request = None
    if request.expired:  # a cut read can look like an answer (headers ended by EOF)
        response.close()
        raise request.error()
    return response


class _Watchdog:
    """One daemon thread that sleeps until the earliest deadline of the running requests."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._requests: set[_Request] = set()
        self._wake_at = float("inf")
        self._started = False

    def reset(self) -> None:
        """In a forked child: no thread there, and the lock may have been held at the fork."""
        self.__init__()

    def add(self, request: _Request) -> None:
        with self._cond:
            self._requests.add(request)
            if not self._started:
                self._started = True
                threading.Thread(target=self._run, name="mlflow-request-deadline",
                                 daemon=True).start()  # fmt: skip
            if request.at < self._wake_at:
                self._cond.notify()

    def remove(self, request: _Request) -> None:
        with self._cond:
            self._requests.discard(request)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for request in self._requests:
                    if request.at <= now:
                        try:
                            request.expire()
                        except Exception:  # the thread must outlive one odd connection
                            logger.warning("shutting down a late request's connection "
                                           "failed", exc_info=True)  # fmt: skip
                        request.at = now + _RECHECK_S  # a connection made meanwhile
                self._wake_at = min((r.at for r in self._requests), default=float("inf"))
                self._cond.wait(None if self._wake_at == float("inf") else self._wake_at - now)


def _after_fork_in_child() -> None:
    """A fork while another thread held `_install_lock` (inside `install`) left the child a
    lock no thread of it will release: the child's next store waited on it forever."""
    global _install_lock
    _install_lock = threading.Lock()
    _watchdog.reset()


_watchdog = _Watchdog()
os.register_at_fork(after_in_child=_after_fork_in_child)
