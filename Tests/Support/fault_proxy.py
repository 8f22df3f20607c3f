#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for EdgeMount's tests: loopback only, bounded in time and
requests. Forwards S3 requests to an upstream server and, at a configured rate, answers with a
fault instead: 503 SlowDown, 500 InternalError, a reset connection, a stall, a body cut short,
or a wrong Content-Length. The control file (JSON, re-read on every request) sets
{"rate": 0.1, "faults": [...], "mode": "normal" | "down" | "frozen", "max_keys_limit": 1000};
the answers given so far (by fault, "ok" for forwarded) are in CONTROL_FILE.counts, as JSON;
"down" refuses every request, "frozen" accepts and never answers (until the lifetime ends);
with max_keys_limit, a listing that asks for more keys a page gets 400 InvalidArgument.

    fault_proxy.py PORT UPSTREAM_PORT CONTROL_FILE [LIFETIME_SECONDS] [MAX_REQUESTS]
"""
import json, os, random, socket, socketserver, struct, sys, threading, time, http.client

port, upstream, control = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lifetime = float(sys.argv[4]) if len(sys.argv) > 4 else 600
max_requests = int(sys.argv[5]) if len(sys.argv) > 5 else 200000
started, served, lock = time.time(), [0], threading.Lock()
rng = random.Random(1234)
counts = {}

def settings():
    try:
        with open(control) as f:
            return json.load(f)
    except Exception:
        return {}

def reset(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()

class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            line = self.rfile.readline()
            if not line:
                return
            method, path, _ = line.decode("latin-1").split(" ", 2)
            headers = []
            while True:
                h = self.rfile.readline().decode("latin-1")
                if h in ("\r\n", "\n", ""):
                    break
                name, value = h.split(":", 1)
                headers.append((name.strip(), value.strip()))
            length = int(next((v for n, v in headers if n.lower() == "content-length"), "0"))
            body = self.rfile.read(length) if length else b""
            with lock:
                served[0] += 1
                over = served[0] > max_requests or time.time() - started > lifetime
            if over:
                reset(self.connection)
                return
            cfg = settings()
            mode = cfg.get("mode", "normal")
            if mode == "down":
                reset(self.connection)
                return
            if mode == "frozen":
                time.sleep(max(0, lifetime - (time.time() - started)))
                return
            limit = cfg.get("max_keys_limit")
            if limit and method == "GET" and "list-type=2" in path:
                asked = next((int(p[9:]) for p in path.split("?", 1)[-1].split("&") if p.startswith("max-keys=")), 1000)
                if asked > limit:
                    with lock:
                        counts["max_keys_refused"] = counts.get("max_keys_refused", 0) + 1
                    payload = b"<?xml version=\"1.0\"?><Error><Code>InvalidArgument</Code><Message>max-keys too large</Message><RequestId>FAULT</RequestId></Error>"
                    self.wfile.write(f"HTTP/1.1 400 Bad Request\r\nContent-Type: application/xml\r\nContent-Length: {len(payload)}\r\n\r\n".encode() + payload)
                    continue
            fault = None
            if cfg.get("faults") and rng.random() < cfg.get("rate", 0):
                fault = rng.choice(cfg["faults"])
            with lock:
                counts[fault or "ok"] = counts.get(fault or "ok", 0) + 1
            if fault in ("503", "500"):
                code, text = ("SlowDown", "Slow Down") if fault == "503" else ("InternalError", "Internal Error")
                payload = f"<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>injected</Message><RequestId>FAULT</RequestId></Error>".encode()
                self.wfile.write(f"HTTP/1.1 {fault} {text}\r\nContent-Type: application/xml\r\nContent-Length: {len(payload)}\r\n\r\n".encode() + payload)
                continue
            if fault == "reset":
                reset(self.connection)
                return
            if fault == "stall":
                time.sleep(float(cfg.get("stall_seconds", 20)))
                reset(self.connection)
                return
            conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
            conn.request(method, path, body=body, headers=dict(headers))
            resp = conn.getresponse()
            data = resp.read()
            out = [f"HTTP/1.1 {resp.status} {resp.reason}\r\n"]
            for n, v in resp.getheaders():
                if n.lower() in ("content-length", "transfer-encoding", "connection"):
                    continue
                out.append(f"{n}: {v}\r\n")
            conn.close()
            if fault == "short" and len(data) > 1:
                self.wfile.write(("".join(out) + f"Content-Length: {len(data)}\r\n\r\n").encode() + data[: len(data) // 2])
                reset(self.connection)
                return
            if fault == "badlength" and len(data) > 1:
                # A Content-Length shorter than the body: the client reads too few bytes.
                self.wfile.write(("".join(out) + f"Content-Length: {len(data) - 1}\r\nConnection: close\r\n\r\n").encode() + data)
                self.connection.close()
                return
            self.wfile.write(("".join(out) + f"Content-Length: {len(data)}\r\n\r\n").encode() + data)

class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

def dump_counts():
    # What was answered so far, every half second, for the test to read (CONTROL_FILE.counts).
    while True:
        time.sleep(0.5)
        with lock:
            text = json.dumps(counts)
        with open(control + ".counts.tmp", "w") as f:
            f.write(text)
        os.replace(control + ".counts.tmp", control + ".counts")

server = Server(("127.0.0.1", port), Handler)
threading.Thread(target=dump_counts, daemon=True).start()
threading.Thread(target=lambda: (time.sleep(lifetime), server.shutdown()), daemon=True).start()
print("ready", flush=True)
server.serve_forever()
print("counts", json.dumps(counts), flush=True)
