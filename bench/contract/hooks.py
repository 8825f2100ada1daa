"""Schemathesis hooks for bench/contract/schemathesis.sh: a signed-in session for the routes
that need one, so that they are tested past 401.

The session belongs to the admin that the script created (so the admin routes answer too). It
signs in from 127.0.0.2, another loopback address: the fuzzer's own failed sign-ins from
127.0.0.1 fill that address's throttle, which must not lock the session out. When a request
ends the session (POST /logout, a password change), the next answer is 401 and Schemathesis
signs in again.

`GET /api/events` is a stream that never ends by itself: Schemathesis reads an event stream
until its request timeout (10 s unless told), so each signed-in case would cost ten seconds of
the run's time. The hook below gives that operation a 1 s timeout: long enough for the answer's
head and the stream's first comment to be checked against the document, and the run keeps its
pace. Nothing is excluded.

`filter_failure` drops the one kind of report that is Schemathesis's, not the server's: an
undeclared header field accepted (see its docstring).
"""

import http.client
import json
import os

import schemathesis

HOST = os.environ["CONTRACT_HOST"]
PORT = int(os.environ["CONTRACT_PORT"])
USERNAME = os.environ["CONTRACT_USER"]
PASSWORD = os.environ["CONTRACT_PASSWORD"]
SESSION_ADDRESS = os.environ.get("CONTRACT_SESSION_ADDRESS", "127.0.0.2")

# The paths whose operations take a session (POST /api/users and POST /logout ignore one, or
# end it: both are fine with it).
SIGNED_IN = [
    "/api/users",
    "/api/profile",
    "/api/profile/password",
    "/api/admin/jobs",
    "/logout",
    "/api/posts",
    "/api/posts/{id}",
    "/api/events",
]
# How long a case of the event stream reads it (seconds).
EVENTS_READ = 1.0


def sign_in():
    """A fresh session's bearer token."""
    conn = http.client.HTTPConnection(HOST, PORT, timeout=30, source_address=(SESSION_ADDRESS, 0))
    try:
        body = json.dumps({"username": USERNAME, "password": PASSWORD})
        conn.request("POST", "/login", body=body, headers={"Content-Type": "application/json"})
        answer = conn.getresponse()
        text = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"sign-in answered {answer.status}: {text[:200]!r}")
        return json.loads(text)["token"]
    finally:
        conn.close()


@schemathesis.auth(refresh_interval=3600).apply_to(path=SIGNED_IN)
class Session:
    def get(self, case, ctx):
        return sign_in()

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"



@schemathesis.hook
def before_call(ctx, case, kwargs):
    if case.operation.path == "/api/events":
        kwargs["timeout"] = EVENTS_READ


@schemathesis.hook
def filter_failure(ctx, failure, case, response):
    """Drops one false alarm: a request with a header field no operation declares, which
    Schemathesis expects refused. HTTP servers accept header fields they do not know (RFC 9110
    §5.1: a recipient ignores them), as this server rightly does; its refusal would break
    every proxy and browser that adds one."""
    message = getattr(failure, "message", "") or ""
    return not (
        getattr(failure, "code", "") == "ST201"
        and "in header - object with unexpected properties" in message
    )
