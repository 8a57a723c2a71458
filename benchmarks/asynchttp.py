"""A small asyncio HTTP/1.1 client for the load test: one keep-alive connection
per simulated device, Basic auth, Content-Length and chunked bodies; no
dependency beyond the standard library."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass


class Stale(ConnectionError):
    """A reused keep-alive connection was closed by the server before answering."""


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    """One device's keep-alive connection (RFC 9112): reconnects when the server
    closed it, and retries once a request that found a reused connection
    closed before any byte of an answer (as browsers and client libraries do)."""

    def __init__(self, host: str, port: int, login: str, password: str, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.auth = "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.connects = self.retries = 0

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

    async def request(self, method: str, path: str, body: str = "", headers: dict[str, str] | None = None) -> Reply:
        for attempt in (0, 1):
            try:
                return await asyncio.wait_for(self._exchange(method, path, body.encode(), headers or {}),
                                              self.timeout)
            except Stale:
                await self.close()
                if attempt:
                    raise
                self.retries += 1
            except BaseException:
                await self.close()
                raise
        raise AssertionError("unreachable")

    async def _exchange(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        reused = self.writer is not None
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.connects += 1
        head = {"Host": f"{self.host}:{self.port}", "Authorization": self.auth, "User-Agent": "followups-load",
                "Content-Length": str(len(body)), **headers}
        if body:
            head.setdefault("Content-Type", "application/xml; charset=utf-8")
        lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in head.items()), "", ""]
        try:
            self.writer.write("\r\n".join(lines).encode("latin-1") + body)
            await self.writer.drain()
            status_line = await self.reader.readline()
        except (ConnectionResetError, BrokenPipeError) as exc:
            if reused:
                raise Stale(str(exc)) from exc
            raise
        if not status_line:
            raise Stale("closed before the answer") if reused else ConnectionResetError("closed before the answer")
        version, status = status_line.decode("latin-1").split(" ", 2)[:2]
        answer: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            answer[name.strip().lower()] = value.strip()
        code = int(status)
        if method == "HEAD" or code in (204, 304) or code < 200:
            payload = b""
        elif "chunked" in answer.get("transfer-encoding", "").lower():
            payload = await self._chunks()
        elif "content-length" in answer:
            payload = await self.reader.readexactly(int(answer["content-length"]))
        else:
            payload, answer["connection"] = await self.reader.read(), "close"
        keep = answer.get("connection", "").lower()
        if keep == "close" or (version == "HTTP/1.0" and keep != "keep-alive"):
            await self.close()
        return Reply(code, answer, payload)

    async def _chunks(self) -> bytes:
        assert self.reader is not None
        parts = []
        while size := int((await self.reader.readline()).split(b";")[0].strip() or b"0", 16):
            parts.append(await self.reader.readexactly(size))
            await self.reader.readline()
        while await self.reader.readline() not in (b"\r\n", b"\n", b""):
            pass
        return b"".join(parts)
