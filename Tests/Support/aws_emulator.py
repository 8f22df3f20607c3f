#!/usr/bin/env python3
"""AWS's credential services as AWS documents them, and an S3 front that accepts only the
credentials valid now, for the credential tests. One process, two ports on 127.0.0.1:

  S3 port        checks each request's SigV4 signature (written here from AWS's documentation,
                 independently of the Swift signer) against the credentials issued and still
                 valid: unknown key 403 InvalidAccessKeyId, past its expiry 403 ExpiredToken,
                 wrong session token 403 InvalidToken, x-amz-date more than 15 minutes from the
                 server's clock 403 RequestTimeTooSkewed (with the server's Date), wrong
                 signature 403 SignatureDoesNotMatch; then forwards the request, signed again with
                 the upstream's own key, to a real S3 server (SeaweedFS) and streams its answer back.
  services port  STS (POST /: AssumeRole, signed and checked; AssumeRoleWithWebIdentity),
                 IMDSv2 (PUT /latest/api/token with a TTL header, then GETs with the token; 401
                 without or with an expired one), the container endpoint (GET /container with
                 the Authorization token), the SSO portal (GET /federation/credentials with
                 x-amz-sso_bearer_token), and a control API for the tests:
                   POST /_control {"lifetime": s, "down": bool, "skew": s, "web_token": t,
                                   "container_token": t, "sso_token": t, "keys": {id: secret},
                                   "revoke": [id]}
                   GET /_issued   every secret and token issued (the leak search)
                   GET /_stats    requests per service
                   GET /_issue    fresh credentials as credential_process prints them

  EMULATOR_UPSTREAM_SECRET=S EMULATOR_ROOT_SECRET=S \\
  aws_emulator.py --s3-port P --services-port Q --upstream URL --upstream-key ID --root-key ID
(ports 0: any free ones, which "ready S3PORT SERVICESPORT" names; the secrets come in the
environment, never on the command line, which ps shows to every user)
The root key never expires: it signs AssumeRole, as a user's long-lived key would.
"""
import argparse
import datetime
import hashlib
import hmac
import http.client
import json
import os
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {"lifetime": 60, "down": False, "skew": 0, "web_token": "web-identity-token", "container_token": "container-token",
         "sso_token": "sso-access-token"}
CREDENTIALS = {}  # access key -> {"secret", "token", "expires"}
IMDS_TOKENS = {}  # token -> expiry
STATS = {}
ISSUED = []


def now():
    return time.time() + STATE["skew"]


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def count(what):
    with LOCK:
        STATS[what] = STATS.get(what, 0) + 1


def issue(lifetime=None):
    lifetime = lifetime or STATE["lifetime"]
    key = "ASIA" + secrets.token_hex(8).upper()
    entry = {"secret": secrets.token_urlsafe(30), "token": "FQoG" + secrets.token_urlsafe(60), "expires": time.time() + lifetime}
    with LOCK:
        CREDENTIALS[key] = entry
        ISSUED.extend([entry["secret"], entry["token"]])
    return key, entry


# SigV4, from AWS's documentation ("Create a signed AWS API request").
def quote(s):
    return urllib.parse.quote(s, safe="-_.~")


def canonical_query(raw):
    pairs = []
    for part in raw.split("&") if raw else []:
        name, _, value = part.partition("=")
        pairs.append((quote(urllib.parse.unquote(name)), quote(urllib.parse.unquote(value))))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def signature(secret, amz_date, scope, method, path, raw_query, headers, signed, payload_hash):
    canonical_headers = "".join(f"{h}:{' '.join(headers.get(h, '').split())}\n" for h in signed)
    canonical = "\n".join([method, path or "/", canonical_query(raw_query), canonical_headers, ";".join(signed), payload_hash])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def check_signature(method, path, raw_query, headers, body):
    """None when the request is signed with valid credentials, else (status, code)."""
    auth = headers.get("authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return 403, "AccessDenied"
    fields = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    key, scope = fields["Credential"].split("/", 1)
    signed = fields["SignedHeaders"].split(";")
    amz_date = headers.get("x-amz-date", "")
    try:
        sent = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
    except ValueError:
        return 403, "AccessDenied"
    if abs(sent - now()) > 900:
        return 403, "RequestTimeTooSkewed"
    with LOCK:
        entry = CREDENTIALS.get(key)
    if entry is None:
        return 403, "InvalidAccessKeyId"
    if entry["token"] is not None and headers.get("x-amz-security-token") != entry["token"]:
        return 403, "InvalidToken"
    if entry["expires"] is not None and time.time() > entry["expires"]:
        return 403, "ExpiredToken"
    payload = headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
    if payload not in ("UNSIGNED-PAYLOAD",) and payload != hashlib.sha256(body).hexdigest():
        return 400, "XAmzContentSHA256Mismatch"
    expected = signature(entry["secret"], amz_date, scope, method, path, raw_query, headers, signed, payload)
    if not hmac.compare_digest(expected, fields["Signature"]):
        return 403, "SignatureDoesNotMatch"
    return None


def error_xml(code):
    return f"<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>{code}</Message></Error>".encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, status, body=b"", content_type="application/xml", extra=()):
        self.send_response(status)
        self.send_header("Date", self.date_time_string(now()))
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def lower_headers(self):
        return {k.lower(): v for k, v in self.headers.items()}


class S3Front(Handler):
    def handle_any(self):
        body = self.body()
        url = urllib.parse.urlsplit(self.path)
        headers = self.lower_headers()
        refused = check_signature(self.command, url.path, url.query, headers, body)
        count("s3")
        if refused:
            count("s3_refused_" + refused[1])
            return self.send(refused[0], error_xml(refused[1]))
        forward = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("authorization", "x-amz-security-token", "x-amz-date", "x-amz-content-sha256", "host",
                                        "content-length", "connection")}
        upstream = urllib.parse.urlsplit(ARGS.upstream)
        amz_date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        payload = hashlib.sha256(body).hexdigest()
        signed_headers = {"host": upstream.netloc, "x-amz-date": amz_date, "x-amz-content-sha256": payload}
        signed_headers.update({k.lower(): v for k, v in forward.items() if k.lower().startswith("x-amz-")})
        scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
        names = sorted(signed_headers)
        sig = signature(ARGS.upstream_secret, amz_date, scope, self.command, url.path, url.query, signed_headers, names, payload)
        forward.update({"x-amz-date": amz_date, "x-amz-content-sha256": payload,
                        "Authorization": f"AWS4-HMAC-SHA256 Credential={ARGS.upstream_key}/{scope}, "
                                         f"SignedHeaders={';'.join(names)}, Signature={sig}"})
        connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
        connection.request(self.command, self.path, body=body, headers=forward)
        response = connection.getresponse()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ("connection", "transfer-encoding", "date", "server"):
                self.send_header(name, value)
        self.send_header("Date", self.date_time_string(now()))
        self.end_headers()
        if self.command != "HEAD":
            while True:
                chunk = response.read(1 << 20)
                if not chunk:
                    break
                self.wfile.write(chunk)
        connection.close()

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = handle_any


class Services(Handler):
    def credentials_json(self, key, entry, token_name="Token"):
        return {"AccessKeyId": key, "SecretAccessKey": entry["secret"], token_name: entry["token"],
                "Expiration": iso(entry["expires"])}

    def down(self):
        if STATE["down"]:
            count("refused_down")
            self.send(503, b"service unavailable", "text/plain")
            return True
        return False

    def do_PUT(self):
        self.body()
        if self.path == "/latest/api/token":
            count("imds_token")
            if self.down():
                return
            ttl = self.headers.get("x-aws-ec2-metadata-token-ttl-seconds")
            if not ttl or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                return self.send(400, b"", "text/plain")
            token = secrets.token_urlsafe(32)
            with LOCK:
                IMDS_TOKENS[token] = time.time() + int(ttl)
                ISSUED.append(token)
            return self.send(200, token.encode(), "text/plain", [("x-aws-ec2-metadata-token-ttl-seconds", ttl)])
        self.send(404)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path.startswith("/latest/meta-data/iam/security-credentials/"):
            count("imds")
            if self.down():
                return
            with LOCK:
                expiry = IMDS_TOKENS.get(self.headers.get("x-aws-ec2-metadata-token", ""))
            if expiry is None or expiry < time.time():
                return self.send(401, b"", "text/plain")
            role = url.path[len("/latest/meta-data/iam/security-credentials/"):]
            if role == "":
                return self.send(200, b"edgemount-role", "text/plain")
            if role != "edgemount-role":
                return self.send(404, b"", "text/plain")
            key, entry = issue()
            document = dict(self.credentials_json(key, entry), Code="Success", Type="AWS-HMAC", LastUpdated=iso(time.time()))
            return self.send(200, json.dumps(document).encode(), "text/plain")
        if url.path == "/container":
            count("container")
            if self.down():
                return
            if self.headers.get("Authorization") != STATE["container_token"]:
                return self.send(403, b"", "text/plain")
            key, entry = issue()
            return self.send(200, json.dumps(self.credentials_json(key, entry)).encode(), "application/json")
        if url.path == "/federation/credentials":
            count("sso")
            if self.down():
                return
            query = urllib.parse.parse_qs(url.query)
            if self.headers.get("x-amz-sso_bearer_token") != STATE["sso_token"]:
                return self.send(401, b'{"message":"Session token not found or invalid"}', "application/json")
            if query.get("account_id") != ["123456789012"] or query.get("role_name") != ["FleetReader"]:
                return self.send(403, b'{"message":"No access"}', "application/json")
            key, entry = issue()
            role = {"accessKeyId": key, "secretAccessKey": entry["secret"], "sessionToken": entry["token"],
                    "expiration": int(entry["expires"] * 1000)}
            return self.send(200, json.dumps({"roleCredentials": role}).encode(), "application/json")
        if url.path == "/_issue":
            count("process")
            if self.down():
                return
            key, entry = issue()
            document = dict(self.credentials_json(key, entry, "SessionToken"), Version=1)
            return self.send(200, json.dumps(document).encode(), "application/json")
        if url.path == "/_issued":
            with LOCK:
                return self.send(200, json.dumps(ISSUED).encode(), "application/json")
        if url.path == "/_stats":
            with LOCK:
                return self.send(200, json.dumps(STATS).encode(), "application/json")
        self.send(404)

    def do_POST(self):
        body = self.body()
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/_control":
            settings = json.loads(body or b"{}")
            with LOCK:
                # Long-lived keys added ({"keys": {id: secret}}) or revoked ({"revoke": [id]}).
                for key, secret in settings.pop("keys", {}).items():
                    CREDENTIALS[key] = {"secret": secret, "token": None, "expires": None}
                    ISSUED.append(secret)
                for key in settings.pop("revoke", []):
                    CREDENTIALS.pop(key, None)
                STATE.update(settings)
            return self.send(200, b"{}", "application/json")
        # STS: form-encoded Action.
        params = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
        action = params.get("Action")
        count("sts_" + str(action))
        if self.down():
            return
        if action == "AssumeRole":
            refused = check_signature("POST", url.path, url.query, self.lower_headers(), body)
            if refused:
                return self.send(refused[0], sts_error(refused[1]))
        elif action == "AssumeRoleWithWebIdentity":
            if params.get("WebIdentityToken") != STATE["web_token"]:
                return self.send(400, sts_error("InvalidIdentityToken"))
        else:
            return self.send(400, sts_error("InvalidAction"))
        if not params.get("RoleArn", "").startswith("arn:aws:iam::") or not params.get("RoleSessionName"):
            return self.send(400, sts_error("ValidationError"))
        lifetime = min(STATE["lifetime"], int(params.get("DurationSeconds", 3600)))
        key, entry = issue(lifetime)
        result = (f"<{action}Response xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><{action}Result><Credentials>"
                  f"<AccessKeyId>{key}</AccessKeyId><SecretAccessKey>{entry['secret']}</SecretAccessKey>"
                  f"<SessionToken>{entry['token']}</SessionToken><Expiration>{iso(entry['expires'])}</Expiration>"
                  f"</Credentials></{action}Result></{action}Response>")
        self.send(200, result.encode(), "text/xml")


def sts_error(code):
    return (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{code}</Message></Error>"
            f"<RequestId>1</RequestId></ErrorResponse>").encode()


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    for name in ("--s3-port", "--services-port"):
        parser.add_argument(name, type=int, required=True)
    for name in ("--upstream", "--upstream-key", "--root-key"):
        parser.add_argument(name, required=True)
    ARGS = parser.parse_args()
    # Secrets come in the environment, never on the command line (ps shows it to everyone).
    ARGS.upstream_secret = os.environ["EMULATOR_UPSTREAM_SECRET"]
    ARGS.root_secret = os.environ["EMULATOR_ROOT_SECRET"]
    CREDENTIALS[ARGS.root_key] = {"secret": ARGS.root_secret, "token": None, "expires": None}
    servers = [ThreadingHTTPServer(("127.0.0.1", ARGS.s3_port), S3Front),
               ThreadingHTTPServer(("127.0.0.1", ARGS.services_port), Services)]
    for server in servers:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"ready {servers[0].server_address[1]} {servers[1].server_address[1]}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
