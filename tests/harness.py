"""The product stack for tests: see sandbox/stack.py (shared with the benchmarks and the demo)."""
from sandbox.stack import *  # noqa: F401,F403
from sandbox.stack import (  # noqa: F401
    GOOGLE_CLIENT_ID,
    REP,
    REP_EMAIL,
    REP_GMAIL,
    SIGNING_SECRET,
    TEAM,
    Stack,
    authorize_url_in,
    consent_redirect,
    free_port,
    http_get,
    query_of,
    start_stack,
)
