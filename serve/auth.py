"""Optional bearer-token check (`tinyagent serve --api-key KEY`)."""

from __future__ import annotations

import hmac

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

# auto_error=False: a missing header must get this server's JSON 401, not FastAPI's 403.
bearer = HTTPBearer(auto_error=False, description="the key given to `tinyagent serve --api-key`")


class Unauthorized(Exception):
    pass


def key_matches(expected: str, given: str) -> bool:
    # Constant time, so response timing does not reveal how much of a guessed key is right.
    return hmac.compare_digest(expected.encode(), given.encode())


def require_key(request: Request, credentials: HTTPAuthorizationCredentials | None) -> None:
    expected: str | None = request.app.state.api_key
    if expected is None:
        return
    if credentials is None or credentials.scheme.lower() != "bearer" or not key_matches(expected, credentials.credentials):
        raise Unauthorized()
