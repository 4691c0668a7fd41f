"""The ring's send thread (`Sender`): a rank's sends to its right neighbour, in order, on
a thread of their own, so that the rank receives from its left neighbour meanwhile.

Owns: the send queue (plain or CRC-checked payloads, each with its deadline), `flush` (wait
until everything queued is in the kernel; the send error, if any, raised there) and the
first send error, reported once through the communicator's `abort` (`on_error`). Does not
own the sockets (the communicator opens and closes them; closing them wakes a blocked send)
or the framing (dlcore.collective.wire).
"""

from __future__ import annotations

import queue
import socket
import threading
from typing import Any

from dlcore.collective.wire import Deadline, send_bytes, send_checked
from dlcore.errors import CommunicationError


class Sender:
    """Sends queued buffers to the right neighbour in order, on its own thread.

    The receiving thread never blocks on a send, so two neighbours that both push
    large segments at once cannot deadlock on full socket buffers.
    """

    _STOP = object()

    def __init__(self, sock: socket.socket, peer: str, on_error: Any) -> None:
        self._sock, self._peer, self._on_error = sock, peer, on_error
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.error: CommunicationError | None = None
        self._thread = threading.Thread(target=self._run, name=f"dlcore-send-{peer}", daemon=True)
        self._thread.start()

    def put(
        self,
        data: Any,
        deadline: Deadline,
        what: str,
        checked: bool = False,
        crc: int | None = None,
    ) -> None:
        """Queue `data`; `checked` sends it as a payload with its CRC-32 trailer (`crc`:
        the verified CRC it arrived with, when forwarded unchanged; else computed)."""
        self._queue.put((data, deadline, what, checked, crc))

    def flush(self, deadline: Deadline) -> None:
        """Wait until everything queued so far is in the kernel; raise the send error if any."""
        done = threading.Event()
        self._queue.put(done)
        what = "the send queue to drain (peer not reading)"
        # A stall deadline moves on while the sender thread moves bytes: wait again.
        while not done.wait(deadline.remaining(what, self._peer)):
            continue
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        self._queue.put(self._STOP)
        self._thread.join(timeout=5.0)

    def _run(self) -> None:
        while True:
            item = self._queue.get()  # idle wait for work; stop() ends it
            if item is self._STOP:
                return
            if isinstance(item, threading.Event):
                item.set()
            elif self.error is None:
                data, deadline, what, checked, crc = item
                try:
                    if checked:
                        send_checked(self._sock, data, deadline, what, self._peer, crc)
                    else:
                        send_bytes(self._sock, data, deadline, what, self._peer)
                except CommunicationError as exc:
                    self.error = exc
                    self._on_error(f"send to {self._peer} failed: {exc}")
