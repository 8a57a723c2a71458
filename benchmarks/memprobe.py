"""Where a server worker's memory goes request by request (docs/memory.md).

Starts ``followups serve --workers 1`` on a benchmark store and sends the
benchmark's requests one at a time (getctag, PROPFIND depth 1, an initial
sync: sync-collection then multigets by 100, GET, the one-week query, of
each calendar; then free/busy), printing the worker's VmRSS and VmHWM after
each. Build the store with ``python -m benchmarks.bench --keep DIR``:

    python -m benchmarks.memprobe sqlite:///DIR/bench.db [--rounds 3]

The server inherits the environment: ``FOLLOWUPS_MALLOC_ARENAS=2 python -m
benchmarks.memprobe ...`` measures another setting.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import data, servers

PROPFIND0 = (b'<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/">'
             b'<d:prop><cs:getctag/></d:prop></d:propfind>')
PROPFIND1 = b'<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>'
SYNC = (b'<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token/><d:sync-level>1</d:sync-level>'
        b'<d:prop><d:getetag/></d:prop></d:sync-collection>')
QUERY = ('<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
         '<d:prop><d:getetag/><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR">'
         '<c:comp-filter name="{component}"><c:time-range start="20260302T060000Z" end="20260309T060000Z"/>'
         '</c:comp-filter></c:comp-filter></c:filter></c:calendar-query>')
FREEBUSY = (b'<?xml version="1.0"?><c:free-busy-query xmlns:c="urn:ietf:params:xml:ns:caldav">'
            b'<c:time-range start="20260302T060000Z" end="20260309T060000Z"/></c:free-busy-query>')
HREF = re.compile(rb"<(?:D:)?href>([^<]+\.ics)</(?:D:)?href>", re.IGNORECASE)


class Probe:
    def __init__(self, port: int, pid: int) -> None:
        self.port = port
        self.pid = pid
        self.auth = "Basic " + base64.b64encode(f"{data.LOGIN}:{data.PASSWORD}".encode()).decode()

    def request(self, method: str, path: str, body: bytes = b"", depth: str | None = None) -> bytes:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = {"Authorization": self.auth, **({"Depth": depth} if depth else {})}
        conn.request(method, path, body=body or None, headers=headers)
        response = conn.getresponse()
        answer = response.read()
        conn.close()
        if response.status >= 400:
            raise SystemExit(f"{method} {path}: {response.status}")
        return answer

    def worker(self) -> int:
        children = servers._children(self.pid)
        return children[0] if children else self.pid

    def show(self, label: str) -> None:
        fields = {}
        for line in Path(f"/proc/{self.worker()}/status").read_text().splitlines():
            if line.startswith(("VmRSS", "VmHWM")):
                fields[line[:5]] = int(line.split()[1]) // 1024
        print(f"{label:32s} VmRSS {fields['VmRSS']:5d}  VmHWM {fields['VmHWM']:5d} MiB", flush=True)

    def calendar(self, name: str, component: str) -> None:
        base = f"/{data.LOGIN}/{name}/"
        self.request("PROPFIND", base, PROPFIND0, "0")
        self.show(f"{name}: getctag")
        self.request("PROPFIND", base, PROPFIND1, "1")
        self.show(f"{name}: PROPFIND depth 1")
        hrefs = HREF.findall(self.request("REPORT", base, SYNC, "1"))
        self.show(f"{name}: sync-collection")
        for i in range(0, len(hrefs), 100):
            body = (b'<?xml version="1.0"?><c:calendar-multiget xmlns:d="DAV:" '
                    b'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>'
                    + b"".join(b"<d:href>" + h + b"</d:href>" for h in hrefs[i:i + 100])
                    + b"</c:calendar-multiget>")
            self.request("REPORT", base, body, "1")
        self.show(f"{name}: {len(hrefs)} by multiget")
        self.request("GET", base)
        self.show(f"{name}: GET")
        self.request("REPORT", base, QUERY.format(component=component).encode(), "1")
        self.show(f"{name}: one-week query")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database", help="the store's URL (a benchmark store: python -m benchmarks.bench --keep DIR)")
    parser.add_argument("--rounds", type=int, default=3, help="times through every request (default 3)")
    args = parser.parse_args(argv)
    port = servers.free_port()
    env = {"FOLLOWUPS_AUTH_DELAY": "0", "FOLLOWUPS_LOG_LEVEL": "error"}
    server = subprocess.Popen([sys.executable, "-m", "server.cli", "--database", args.database, "serve",
                               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                              env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        probe = Probe(port, server.pid)
        deadline = time.monotonic() + 60
        while True:
            try:
                probe.request("GET", "/.health")
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        probe.show("start (after /.health)")
        for round in range(1, args.rounds + 1):
            print(f"-- round {round}")
            probe.calendar("meetings", "VEVENT")
            probe.calendar("tasks", "VTODO")
            probe.request("REPORT", f"/{data.LOGIN}/meetings/", FREEBUSY, "1")
            probe.show("free/busy")
    finally:
        server.terminate()
        server.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
