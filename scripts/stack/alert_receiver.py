"""A minimal Alertmanager webhook receiver: prints one JSON line per alert it is sent.

Stands in for a real receiver (a chat bot, an incident tool) in docker-compose and in the
end-to-end suite, and shows what Alertmanager sends. Standard library only:

    python scripts/stack/alert_receiver.py [--host 127.0.0.1] [--port 9095] [--out FILE]

POST /alerts with Alertmanager's webhook payload (version 4) -> 200, one line per alert on
stdout (and appended to FILE): status, alertname, severity, summary and all labels.
GET / -> 200 "ok", for health checks. Anything else -> 404; a body that is not a webhook
payload -> 400.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MAX_BODY = 10 * 1024 * 1024
_lock = threading.Lock()


def alert_lines(payload: Any) -> list[str]:
    """One JSON line per alert of a webhook payload; ValueError if it is not one."""
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        raise ValueError("not an Alertmanager webhook payload (no alerts list)")
    lines = []
    for alert in payload["alerts"]:
        labels = alert.get("labels") or {}
        annotations = alert.get("annotations") or {}
        record = {
            "status": alert.get("status"),
            "alertname": labels.get("alertname"),
            "severity": labels.get("severity"),
            "summary": annotations.get("summary"),
            "startsAt": alert.get("startsAt"),
            "labels": labels,
            "receiver": payload.get("receiver"),
        }
        lines.append(json.dumps(record, sort_keys=True))
    return lines


class Handler(BaseHTTPRequestHandler):
    """Accepts webhook POSTs; `server.out` is the optional file to append to."""

    def do_GET(self) -> None:
        """Health check."""
        self._reply(200 if self.path == "/" else 404, b"ok\n" if self.path == "/" else b"")

    def do_POST(self) -> None:
        """Print and store the alerts of one notification."""
        if self.path != "/alerts":
            self._reply(404, b"")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            self._reply(400, b"body missing or too large\n")
            return
        try:
            lines = alert_lines(json.loads(self.rfile.read(length)))
        except ValueError as exc:
            self._reply(400, f"{exc}\n".encode())
            return
        out: Path | None = getattr(self.server, "out", None)
        with _lock:
            for line in lines:
                print(line, flush=True)
            if out is not None:
                with out.open("a") as f:
                    f.writelines(line + "\n" for line in lines)
        self._reply(200, b"")

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep stdout for the alert lines only."""


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9095)
    parser.add_argument("--out", type=Path, help="also append each alert line to this file")
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.out = args.out  # type: ignore[attr-defined]
    print(f"alert receiver on http://{args.host}:{args.port}/alerts", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
