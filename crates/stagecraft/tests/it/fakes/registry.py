# A container registry's manifest API, as much as Stagecraft asks of it:
# HEAD /v2/<name>/manifests/<tag> answers 200 when a push put the tag there
# (the fake docker's `push` writes $ROOT/<name with / as _>:<tag>), else
# 404. With `token`, it asks as Docker Hub and GHCR do: 401 and a Bearer
# challenge naming a realm, whose GET gives the token to retry with.
# With a file ROOT/together holding N, each manifest HEAD waits until N of
# them have come in (10 s at most, then 503): asked side by side, they all
# pass; asked one after the other, the first waits alone.
#   python3 registry.py ROOT PORT_FILE [token]
import http.server, json, os, re, sys, threading, urllib.parse

root, port_file = sys.argv[1], sys.argv[2]
token = len(sys.argv) > 3 and sys.argv[3] == "token"
os.makedirs(root, exist_ok=True)

arrived = 0
arrivals = threading.Condition()

def together():
    global arrived
    path = os.path.join(root, "together")
    if not os.path.exists(path):
        return True
    wanted = int(open(path).read())
    with arrivals:
        arrived += 1
        arrivals.notify_all()
        return arrivals.wait_for(lambda: arrived >= wanted, timeout=10)

class Registry(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def record(self):
        with open(os.path.join(root, "requests"), "a") as log:
            log.write("%s %s %s\n" % (self.command, self.path, self.headers.get("Authorization", "-")))

    def answer(self, code, headers=(), body=b""):
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.record()
        match = re.match(r"^/v2/(.+)/manifests/([^/]+)$", self.path)
        if not match:
            return self.answer(404)
        name, tag = match.groups()
        if not together():
            return self.answer(503)
        if token and self.headers.get("Authorization") != "Bearer good-token":
            realm = "http://127.0.0.1:%d/token" % self.server.server_port
            challenge = 'Bearer realm="%s",service="test-registry",scope="repository:%s:pull"' % (realm, name)
            return self.answer(401, [("WWW-Authenticate", challenge)])
        if os.path.exists(os.path.join(root, "%s:%s" % (name.replace("/", "_"), tag))):
            return self.answer(200, [("Docker-Content-Digest", "sha256:" + "0" * 64),
                                     ("Content-Type", "application/vnd.oci.image.manifest.v1+json")])
        self.answer(404)

    def do_GET(self):
        self.record()
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/token" and query.get("service") == ["test-registry"] and query.get("scope"):
            return self.answer(200, [("Content-Type", "application/json")], json.dumps({"token": "good-token"}).encode())
        self.answer(404)

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Registry)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_port))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
