"""Connection limits below the ASGI app: a connection cap, header and body read timeouts, and quiet logs about them.

uvicorn (0.54) closes idle keep-alive connections but nothing else: a connection that never finishes its headers or
body is kept forever, and a few hundred of them exhaust the process's file descriptors. `guarded_protocol` is
uvicorn's h11 protocol with one deadline per connection:

- from connecting, or from a new request's first byte, until its headers are in: ``header_timeout_s``, then a 408;
- from the headers until the body is in: ``body_timeout_s``, then a 408;
- a connection over ``max_connections`` is answered 503 at once and closed;
- at shutdown, connections that have not delivered a whole request are closed at once (uvicorn would wait for them
  for the whole grace period); requests that have are drained.

Each of these is counted, and the counts are logged as one JSON line per few seconds (`ConnectionNotes`), never one
line, let alone one traceback, per connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import Counter

import h11

logger = logging.getLogger("rerankrt.server")

# How long notes gather before their line is written, and the least time between two lines.
_GATHER_S = 1.0
_MIN_INTERVAL_S = 5.0


class ConnectionNotes:
    """Counts of closed or refused connections (and event-loop errors), logged as one summed JSON line at a time."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.total: Counter[str] = Counter()
        self._last = 0.0
        self._scheduled = False

    def note(self, reason: str, loop: asyncio.AbstractEventLoop) -> None:
        """Count one event; the line that reports it is written within a few seconds."""
        self.counts[reason] += 1
        self.total[reason] += 1
        if not self._scheduled:
            self._scheduled = True
            wait = max(_GATHER_S, self._last + _MIN_INTERVAL_S - time.monotonic())
            loop.call_later(wait, self.flush)

    def flush(self) -> None:
        """Write the line for the events counted since the last one."""
        self._scheduled = False
        if self.counts:
            self._last = time.monotonic()
            logger.warning("connections closed", extra={"reasons": dict(self.counts), "since_start": dict(self.total)})
            self.counts.clear()

    def loop_error(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        """An asyncio exception handler: one counted note instead of a traceback per error (e.g. EMFILE on accept)."""
        exc = context.get("exception")
        reason = f"{context.get('message', 'event loop error')}: {type(exc).__name__}" if exc else context["message"]
        self.note(reason, loop)


def _raw_response(status: int, reason: bytes, error: str, error_type: str, request_id: str | None = None) -> bytes:
    """A whole HTTP/1.1 error answer in the server's JSON shape, for connections that have no request cycle."""
    body = json.dumps({"error": error, "error_type": error_type}).encode()
    rid = f"x-request-id: {request_id}\r\n".encode() if request_id else b""
    head = (
        f"HTTP/1.1 {status} ".encode()
        + reason
        + b"\r\ncontent-type: application/json\r\nconnection: close\r\n"
        + rid
        + f"content-length: {len(body)}\r\n\r\n".encode()
    )
    return head + body


_CLOSE_MESSAGES = {
    "header": (408, b"Request Timeout", "request headers not received within header_timeout_s={:g}", "timeout"),
    "body": (408, b"Request Timeout", "request body not received within body_timeout_s={:g}", "timeout"),
}


class _ConnectionGuards:
    """The cap and deadlines, mixed in before uvicorn's H11Protocol (`guarded_protocol` sets the class attributes).

    Attributes:
        max_connections: Open connections past which a new one is answered 503 and closed.
        timeouts: Seconds per read stage, ``{"header": ..., "body": ...}``.
        notes: Where closed and refused connections are counted.
    """

    max_connections: int
    timeouts: dict[str, float]
    notes: ConnectionNotes
    _deadline: asyncio.TimerHandle | None = None
    _stage: str | None = None
    _refused = False

    def connection_made(self, transport) -> None:
        if len(self.server_state.connections) >= self.max_connections:
            self._refused = True
            self.transport = transport
            message = f"more than max_connections={self.max_connections} open connections; retry later"
            transport.write(_raw_response(503, b"Service Unavailable", message, "overloaded"))
            transport.close()
            self.notes.note("max_connections", self.loop)
            return
        super().connection_made(transport)
        self._set_stage("header")

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()

    def connection_lost(self, exc) -> None:
        self._set_stage(None)
        if self._refused:
            return
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers a request h11 cannot parse (a bad request line or header, headers over the size limit) in
        # plain text; answer in the server's JSON shape with a request id, as the app's own 400s are. The request's
        # own X-Request-Id cannot be trusted (its headers are what failed to parse), so the id is a new one.
        self._set_stage(None)
        if self.transport is None or self.transport.is_closing():
            return
        rid = uuid.uuid4().hex
        error = f"malformed HTTP request: {msg.rstrip('.')}"
        self.transport.write(_raw_response(400, b"Bad Request", error, "validation", rid))
        self.transport.close()

    def shutdown(self) -> None:
        # A request whose body has not arrived is not in flight: close it now instead of waiting the whole grace
        # period for a client that may never send it.
        if self.cycle is not None and not self.cycle.response_complete and self.conn.their_state is h11.SEND_BODY:
            self._drop("shutdown")
            return
        super().shutdown()

    def _follow(self) -> None:
        """Set the deadline for where the connection's current request is (headers, body, or being answered)."""
        state = self.conn.their_state
        if state is h11.IDLE:
            # Between requests an idle connection is uvicorn's keep-alive timer's; a started one is ours.
            if self._stage != "header" and self.conn.trailing_data[0]:
                self._set_stage("header")
            elif not self.conn.trailing_data[0] and self._stage == "header" and self.cycle is not None:
                self._set_stage(None)
        elif state is h11.SEND_BODY:
            if self._stage != "body":
                self._set_stage("body")
        else:
            self._set_stage(None)

    def _set_stage(self, stage: str | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._stage = stage
        if stage is not None:
            self._deadline = self.loop.call_later(self.timeouts[stage], self._expire, stage)

    def _expire(self, stage: str) -> None:
        self._deadline = None
        if self.transport is None or self.transport.is_closing() or self._stage != stage:
            return
        status, reason, text, error_type = _CLOSE_MESSAGES[stage]
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(_raw_response(status, reason, text.format(self.timeouts[stage]), error_type))
        self._drop(f"{stage}_timeout")

    def _drop(self, reason: str) -> None:
        """Close the connection; a request cycle waiting for its body sees a disconnect (and never runs)."""
        self._set_stage(None)
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.close()
        self.notes.note(reason, self.loop)


def guarded_protocol(settings, notes: ConnectionNotes):
    """uvicorn's H11Protocol with the connection cap and read deadlines of `settings` (a `ServerSettings`)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(_ConnectionGuards, H11Protocol):
        max_connections = settings.max_connections
        timeouts = {"header": settings.header_timeout_s, "body": settings.body_timeout_s}

    GuardedH11Protocol.notes = notes
    return GuardedH11Protocol


__all__ = ["ConnectionNotes", "guarded_protocol"]
