"""The photos API: a small HTTP service on port 8080.

Its configuration is the stage environment (cargo xtask env <stage> --app
photos): DATABASE_URL and REDIS_URL name the PostgreSQL and Redis of the
stage, LOG_LEVEL and PHOTOS_BUCKET the rest. /healthz answers 200 when both
are reachable (503 otherwise, with what is not), /livez while the process
runs, / with the service's view of its stage. Standard library only.
"""

import json
import logging
import os
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

PORT = int(os.environ.get("PORT", "8080"))
log = logging.getLogger("photos-api")


def endpoint(url, default_port):
    """(host, port) of a URL such as postgresql://user:pw@postgresql:5432/db."""
    parts = urlsplit(url)
    return parts.hostname, parts.port or default_port


def reachable(url, default_port):
    """None when a TCP connection to the URL's host and port opens, else why not."""
    if not url:
        return "not configured"
    host, port = endpoint(url, default_port)
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except OSError as error:
        return f"{host}:{port}: {error}"


def dependencies():
    problems = {
        "database": reachable(os.environ.get("DATABASE_URL", ""), 5432),
        "redis": reachable(os.environ.get("REDIS_URL", ""), 6379),
    }
    return {name: problem or "reachable" for name, problem in problems.items()}


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, body):
        data = json.dumps(body).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/livez":
            self.reply(200, {"status": "alive"})
        elif path == "/healthz":
            checks = dependencies()
            healthy = all(state == "reachable" for state in checks.values())
            self.reply(200 if healthy else 503, checks)
        elif path in ("/", "/api", "/api/"):
            self.reply(200, {
                "service": "photos-api",
                "bucket": os.environ.get("PHOTOS_BUCKET", ""),
                "dependencies": dependencies(),
            })
        else:
            self.reply(404, {"error": f"no {path}"})

    def log_message(self, fmt, *args):
        log.info("%s %s", self.address_string(), fmt % args)


def main():
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "info").upper())
    server = ThreadingHTTPServer(("", PORT), Handler)
    log.info("listening on :%d", PORT)
    server.serve_forever()


if __name__ == "__main__":
    main()
