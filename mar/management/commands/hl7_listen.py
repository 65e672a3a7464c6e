"""manage.py hl7_listen: the MLLP listener for the hospital's interface engine (mar/hl7/)."""

import asyncio
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from mar.hl7.mllp import Listener


class Command(BaseCommand):
    help = "Listen for HL7 v2 messages over MLLP (ADT^A04/A08/A03/A11, RDE^O11, ORM^O01)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=settings.HL7_MLLP_HOST)
        parser.add_argument("--port", type=int, default=settings.HL7_MLLP_PORT)

    def handle(self, *args: Any, **options: Any) -> None:
        asyncio.run(self.run(options["host"], options["port"]))

    async def run(self, host: str, port: int) -> None:
        listener = Listener(
            max_bytes=settings.HL7_MAX_MESSAGE_BYTES, idle_seconds=settings.HL7_IDLE_SECONDS
        )
        server = await listener.serve(host, port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        bound = ", ".join(f"{s.getsockname()[0]}:{s.getsockname()[1]}" for s in server.sockets)
        self.stdout.write(f"HL7 MLLP listener on {bound}")
        async with server:
            await stop.wait()
        self.stdout.write("HL7 MLLP listener stopped")
