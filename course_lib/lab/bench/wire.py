"""Count one server's MySQL round trips on the wire, so other clients of the same MariaDB do not count.

MariaDB's `SHOW GLOBAL STATUS` counters add up every connection on the server: on a workshop's shared
MariaDB another learner's notebook lands in them. `WireCounter` is a small TCP proxy that one API server
connects through; it reads each command packet the server sends (MySQL client/server protocol: a 3-byte
payload length, a sequence id that is 0 on the first packet of a command, then the command byte) and counts:

* statements: COM_QUERY (0x03, its COMMIT and ROLLBACK included) and COM_STMT_EXECUTE (0x17);
* commits: the COM_QUERYs whose text is COMMIT (PyMySQL's `commit()` sends exactly that);
* pings: COM_PING (0x0e), the connection pool's pre-ping.

Bytes pass through unchanged in both directions. It costs the proxy's own CPU (in this process, not in the
server's), so `course bench guards` uses it only where the server is shared (notebook 02).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

from course_lib.backends import settings

COM_QUERY, COM_PING, COM_STMT_EXECUTE = 0x03, 0x0E, 0x17
_HEADER = 4  # 3-byte little-endian payload length, 1-byte sequence id
_MAX_PAYLOAD = 0xFFFFFF  # a packet this long continues in the next one (never a command's first byte)


class WireCounter:
    """A counting proxy to `host:port` on a free loopback port (`.port`), served by a daemon thread."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = settings.free_port()
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="wire-counter", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout=10):
            raise RuntimeError("the MySQL wire counter did not start")

    def counts(self) -> dict[str, int]:
        """Commands seen so far: statements, commits, pings."""
        with self._lock:
            return {name: self._counts[name] for name in ("statements", "commits", "pings")}

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", self.port))
        self._started.set()
        try:
            self._loop.run_forever()
        finally:  # connections still open (a stopped server's pool): end their tasks before the loop
            server.close()
            tasks = asyncio.all_tasks(self._loop)
            for task in tasks:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.close()

    async def _client(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(*self.target)
        await asyncio.gather(self._commands(client_reader, server_writer), self._pipe(server_reader, client_writer),
                             return_exceptions=True)
        for writer in (client_writer, server_writer):
            writer.close()

    async def _commands(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Client to server, packet by packet: count each command's first packet, forward everything."""
        continued = False
        try:
            while True:
                header = await reader.readexactly(_HEADER)
                length = int.from_bytes(header[:3], "little")
                payload = await reader.readexactly(length)
                if header[3] == 0 and not continued and payload:
                    self._count(payload)
                continued = length == _MAX_PAYLOAD
                writer.write(header + payload)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def _count(self, payload: bytes) -> None:
        command = payload[0]
        with self._lock:
            if command in (COM_QUERY, COM_STMT_EXECUTE):
                self._counts["statements"] += 1
                if command == COM_QUERY and payload[1:].strip().upper() == b"COMMIT":
                    self._counts["commits"] += 1
            elif command == COM_PING:
                self._counts["pings"] += 1

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
