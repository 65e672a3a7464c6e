"""The MLLP listener (asyncio): frames in, ACKs out, one connection's trouble never another's.

MLLP frames a message as <VT> message <FS><CR> (0x0b ... 0x1c 0x0d). Per connection, messages
are answered in the order they came. Bytes outside a frame are dropped; a frame larger than
`max_bytes` is answered AR and skipped to its end; a connection silent for `idle_seconds` (a half
frame that never ends) is closed. Each message is processed in a worker thread (the ORM is
synchronous) by `message_receive`, which never raises for anything the message holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from django.db import connections
from django.utils import timezone

from mar.hl7.inbound import message_receive
from mar.hl7.messages import Hl7Error, ack_build, header_peek, text_normalise
from mar.models import InterfaceMessage

log = logging.getLogger(__name__)

START, END = b"\x0b", b"\x1c\x0d"


def frame(message: str | bytes) -> bytes:
    data = message.encode("utf-8") if isinstance(message, str) else message
    return START + data + END


def _receive(data: bytes, peer: str) -> str:
    # Each message opens and closes its database connection in its worker thread, as a web
    # request would: no idle connection is left in a pool thread (a few ms a message).
    try:
        return message_receive(data, peer=peer)
    finally:
        connections.close_all()


def _too_large(head: bytes, size: int, limit: int, peer: str) -> str:
    """Log a message refused for its size (its beginning only) and build its AR."""
    try:
        text = text_normalise(head)
        control_id, sender, message_type, version = header_peek(text)
        now = timezone.now()
        error = Hl7Error(
            f"The message is {size:,} bytes or more; the limit is {limit:,}.", segment="MSH"
        )
        record = InterfaceMessage.objects.create(
            control_id="",  # never de-duplicated: a smaller resend must be processed
            sender=sender,
            message_type=message_type,
            version=version,
            peer=peer[:100],
            raw=text[:2000] + "\r(truncated)",
            outcome=InterfaceMessage.Outcome.REJECTED,
            error_location="MSH",
            error_text=error.text,
        )
        record.ack = ack_build(
            inbound_id=control_id,
            sender=sender,
            message_type=message_type,
            version=version,
            code="AR",
            control_id=f"ACK{record.pk}-1",
            error=error,
            at=now,
        )
        record.save(update_fields=["ack"])
        return record.ack
    finally:
        connections.close_all()


class Listener:
    def __init__(
        self,
        *,
        max_bytes: int = 1_000_000,
        idle_seconds: float = 300.0,
        receive: Callable[[bytes, str], str] = _receive,
    ) -> None:
        self.max_bytes = max_bytes
        self.idle_seconds = idle_seconds
        self.receive = receive

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        address = writer.get_extra_info("peername")
        peer = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
        buffer = bytearray()
        skipping = False  # inside a frame refused for its size, until its end
        try:
            while True:
                try:
                    chunk = await asyncio.wait_for(reader.read(65536), self.idle_seconds)
                except TimeoutError:
                    log.warning("HL7 %s: idle for %ss, closed", peer, self.idle_seconds)
                    break
                if not chunk:
                    if buffer.strip():
                        log.warning("HL7 %s: closed in the middle of a frame", peer)
                    break
                buffer += chunk
                while True:
                    if skipping:
                        end = buffer.find(END)
                        if end < 0:
                            del buffer[: max(0, len(buffer) - 1)]  # keep a possible half END
                            break
                        del buffer[: end + len(END)]
                        skipping = False
                        continue
                    start = buffer.find(START)
                    if start < 0:
                        buffer.clear()  # bytes outside any frame: dropped
                        break
                    if start > 0:
                        del buffer[:start]
                    end = buffer.find(END)
                    if end < 0:
                        if len(buffer) > self.max_bytes:
                            ack = await asyncio.to_thread(
                                _too_large, bytes(buffer[1:4096]), len(buffer), self.max_bytes, peer
                            )
                            writer.write(frame(ack))
                            await writer.drain()
                            skipping = True
                            del buffer[:]
                        break
                    data = bytes(buffer[1:end])
                    del buffer[: end + len(END)]
                    if len(data) > self.max_bytes:
                        ack = await asyncio.to_thread(
                            _too_large, data[:4096], len(data), self.max_bytes, peer
                        )
                    else:
                        ack = await asyncio.to_thread(self.receive, data, peer)
                    writer.write(frame(ack))
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.info("HL7 %s: connection ended: %s", peer, exc)
        except Exception:  # noqa: BLE001 - one connection's failure is not the listener's
            log.exception("HL7 %s: connection failed", peer)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    async def serve(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self.handle, host, port, limit=self.max_bytes + 65536)
