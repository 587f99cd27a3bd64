"""Real local receivers for the alert tests: an HTTP server that takes the
alert webhook's POSTs and checks their HMAC signature, and an SMTP server
(aiosmtpd) that keeps the e-mails it is sent."""

import hashlib
import hmac
import json
import threading
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .pgserver import free_port


class WebhookReceiver:
    """``received``: each POST as {"valid": signature matches, "body": parsed JSON, "status": the answer};
    ``fail_next``: answer that many requests with 500 first."""

    def __init__(self, secret):
        self.secret = secret.encode()
        self.received = []
        self.fail_next = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                expected = "sha256=" + hmac.new(receiver.secret, body, hashlib.sha256).hexdigest()
                valid = hmac.compare_digest(expected, self.headers.get("X-Dbkeeper-Signature", ""))
                if receiver.fail_next > 0:
                    receiver.fail_next -= 1
                    status = 500
                else:
                    status = 204 if valid else 401
                receiver.received.append({"valid": valid, "body": json.loads(body), "status": status,
                                          "content_type": self.headers.get("Content-Type")})
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/dbkeeper"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def events(self):
        """(event, alert key) of the deliveries taken (signature valid, answered 204), in order."""
        return [(r["body"]["event"], r["body"]["alert"]["key"]) for r in self.received if r["status"] == 204]


class SmtpReceiver:
    """A local SMTP server; ``messages``: (recipients, subject, body)."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages = []
        receiver = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                mail = message_from_bytes(envelope.content)
                subject = str(make_header(decode_header(mail["Subject"])))
                body = mail.get_payload(decode=True).decode(mail.get_content_charset() or "utf-8")
                receiver.messages.append((list(envelope.rcpt_tos), subject, body))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()
