"""Local fake Stripe and PayPal APIs: real HTTP on 127.0.0.1, every request recorded.

The real libraries (stripe, paypalrestsdk) talk to these through STRIPE_API_BASE and
PAYPAL_API_BASE, so the tests exercise the requests they actually send. NetworkGuard
makes any other connection a test failure.
"""

import base64
import itertools
import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
SITE_URL = "https://volx.example"  # the tests' settings.SITE_URL


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def route(self) -> str:
        return f"{self.method} {urlsplit(self.path).path}"

    def json(self) -> dict:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


class FakeServer:
    """A ThreadingHTTPServer on 127.0.0.1, port 0, in a daemon thread; subclasses answer
    with `respond(request) -> (status, json body)`."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Recorded(
                    self.command,
                    self.path,
                    {name.lower(): value for name, value in self.headers.items()},
                    self.rfile.read(length),
                )
                with fake._lock:
                    fake.requests.append(request)
                    status, answer = fake.respond(request)
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = _handle

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> "FakeServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    def routes(self) -> list[str]:
        return [request.route for request in self.requests]

    def respond(self, request: Recorded) -> tuple[int, dict]:
        raise NotImplementedError


class FakeStripe(FakeServer):
    """POST /v1/checkout/sessions, /v1/checkout/sessions/<id>/expire and
    /v1/subscriptions/<id>, answered like Stripe (form-encoded in, JSON out)."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions: dict[str, dict[str, str]] = {}
        self.subscriptions: dict[str, dict] = {}  # what updates set, by subscription id
        self.fail_with: tuple[int, dict] | None = None

    def respond(self, request: Recorded) -> tuple[int, dict]:
        if not request.headers.get("authorization", "").startswith("Bearer sk_"):
            return 401, {"error": {"type": "invalid_request_error", "message": "No API key"}}
        if self.fail_with:
            return self.fail_with
        parts = urlsplit(request.path).path.strip("/").split("/")
        if request.method == "POST" and parts[:2] == ["v1", "subscriptions"] and len(parts) == 3:
            updated = self.subscriptions.setdefault(parts[2], {"status": "active"})
            updated.update(request.form())
            cancel = updated.get("cancel_at_period_end") == "true"
            return 200, {"id": parts[2], "object": "subscription", **updated,
                         "cancel_at_period_end": cancel}  # fmt: skip
        if (
            request.method == "POST"
            and parts[:3] == ["v1", "checkout", "sessions"]
            and parts[4:] == ["expire"]
        ):
            if parts[3] not in self.sessions:
                return 404, {
                    "error": {"type": "invalid_request_error", "message": "No such session"}
                }
            return 200, {"id": parts[3], "object": "checkout.session", "status": "expired"}
        if request.route != "POST /v1/checkout/sessions":
            return 404, {"error": {"type": "invalid_request_error", "message": "Unknown URL"}}
        form = request.form()
        session_id = self.new_id("cs_test_")
        self.sessions[session_id] = form
        return 200, {
            "id": session_id,
            "object": "checkout.session",
            "mode": form["mode"],
            "status": "open",
            "payment_status": "unpaid",
            "client_reference_id": form.get("client_reference_id"),
            "amount_total": int(form["line_items[0][price_data][unit_amount]"]),
            "currency": form["line_items[0][price_data][currency]"],
            "metadata": {
                key[len("metadata[") : -1]: value
                for key, value in form.items()
                if key.startswith("metadata[")
            },
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
        }


class FakePayPal(FakeServer):
    """The v1 REST endpoints paypalrestsdk uses: OAuth token, create / find / execute a
    payment, verify-webhook-signature."""

    CLIENT = ("volx-client", "volx-secret")
    TOKEN = "A21AAfake-token"

    def __init__(self) -> None:
        super().__init__()
        self.payments: dict[str, dict] = {}
        self.verification_status = "SUCCESS"
        self.fail_with: tuple[int, dict] | None = None
        self.token_lifetime = 32400  # seconds, PayPal's usual 9 hours

    def token_requests(self) -> int:
        return self.routes().count("POST /v1/oauth2/token")

    def respond(self, request: Recorded) -> tuple[int, dict]:
        route = request.route
        if route == "POST /v1/oauth2/token":
            basic = base64.b64encode(":".join(self.CLIENT).encode()).decode()
            if request.headers.get("authorization") != f"Basic {basic}":
                return 401, {"error": "invalid_client"}
            return 200, {
                "access_token": self.TOKEN,
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
            }
        if request.headers.get("authorization") != f"Bearer {self.TOKEN}":
            return 401, {"name": "AUTHENTICATION_FAILURE"}
        if self.fail_with:
            return self.fail_with
        if route == "POST /v1/notifications/verify-webhook-signature":
            return 200, {"verification_status": self.verification_status}
        if route == "POST /v1/payments/payment":
            return 201, self._create(request.json())
        parts = urlsplit(request.path).path.strip("/").split("/")
        if parts[:3] == ["v1", "payments", "payment"] and parts[3] in self.payments:
            payment = self.payments[parts[3]]
            if request.method == "GET" and len(parts) == 4:
                return 200, payment
            if request.method == "POST" and parts[4:] == ["execute"]:
                return self.execute(payment, request.json())
        return 404, {"name": "INVALID_RESOURCE_ID", "message": "Requested resource not found."}

    def _create(self, body: dict) -> dict:
        payment_id = self.new_id("PAYID-FAKE")
        token = self.new_id("EC-FAKE")
        self.payments[payment_id] = {
            **body,
            "id": payment_id,
            "state": "created",
            "links": [
                {
                    "href": f"https://www.sandbox.paypal.com/checkoutnow?token={token}",
                    "rel": "approval_url",
                    "method": "REDIRECT",
                },
                {
                    "href": f"https://api.sandbox.paypal.com/v1/payments/payment/{payment_id}",
                    "rel": "self",
                    "method": "GET",
                },
            ],
        }
        return self.payments[payment_id]

    def execute(self, payment: dict, body: dict) -> tuple[int, dict]:
        """What PayPal does on execute; tests call it to execute behind the app's back."""
        if payment["state"] != "created":
            return 400, {"name": "PAYMENT_ALREADY_DONE", "message": "Payment has been done."}
        transaction = payment["transactions"][0]
        transaction["related_resources"] = [
            {
                "sale": {
                    "id": self.new_id("SALE-FAKE"),
                    "state": "completed",
                    "amount": dict(transaction["amount"]),
                    "parent_payment": payment["id"],
                }
            }
        ]
        payment["state"] = "approved"
        payment["payer"]["payer_info"] = {"payer_id": body["payer_id"]}
        return 200, payment


class NetworkGuard:
    """Refuses (and records) every DNS lookup and connection to a host off this machine."""

    def __init__(self) -> None:
        self.blocked: list[object] = []

    def install(self, monkeypatch) -> None:
        real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo
        guard = self

        def connect(sock, address):
            family_is_ip = sock.family in (socket.AF_INET, socket.AF_INET6)
            if family_is_ip and address[0] not in LOOPBACK:
                guard.blocked.append(address)
                raise ConnectionRefusedError(f"the tests refuse a connection to {address}")
            return real_connect(sock, address)

        def getaddrinfo(host, *args, **kwargs):
            name = host.decode() if isinstance(host, bytes) else host
            if name is not None and name not in LOOPBACK:
                guard.blocked.append(name)
                raise socket.gaierror(f"the tests refuse to look up {name}")
            return real_getaddrinfo(host, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
