#!/usr/bin/env python3
"""A local receiver for NetPulse's signed webhooks, for trying NetPulse out (the README's tour).

    python3 scripts/webhook-receiver.py PORT SECRET

Listens on 127.0.0.1:PORT, answers every POST with 204, and prints one line per delivery:
the event, whether its X-NetPulse-Signature matches HMAC-SHA256 of "{timestamp}.{body}" with
SECRET (the channel's signing secret, shown once when the channel is created), the dedup key
and the notice's summary."""
import hashlib, hmac, http.server, json, sys, time

PORT, SECRET = int(sys.argv[1]), sys.argv[2].encode()


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        stamp = self.headers.get("X-NetPulse-Timestamp", "")
        mac = hmac.new(SECRET, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        signed = hmac.compare_digest(self.headers.get("X-NetPulse-Signature", ""), "sha256=" + mac)
        fresh = stamp.isdigit() and abs(time.time() - int(stamp)) < 300
        verdict = "signature ok" if signed and fresh else "SIGNATURE BAD" if not signed else "STALE"
        summary = json.loads(body or b"{}").get("summary", "")
        print(f"webhook: {self.headers.get('X-NetPulse-Event')} ({verdict}) "
              f"{self.headers.get('X-NetPulse-Dedup-Key')}: {summary}", flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", PORT), Receiver).serve_forever()
