"""Schemathesis checks of packer-gateway, loaded with SCHEMATHESIS_HOOKS=schemathesis_hooks.

Schemathesis's own `not_a_server_error` counts every GraphQL error that has a `path` and no code
it knows as a server failure, including this service's expected outcomes (`NOT_FOUND`,
`FORBIDDEN`, ...). The service labels every error instead (SPEC §3.4), so these checks judge by
the label: a 5xx, or an `INTERNAL_SERVER_ERROR`, is a server failure; anything else must be a
well-formed error with a code.
"""

import json

import schemathesis


def _errors(response):
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"not a JSON body ({response.status_code}): {response.content[:200]!r}")
    if not isinstance(body, dict):
        raise AssertionError(f"the body is not a JSON object: {body!r}")
    errors = body.get("errors", [])
    if not isinstance(errors, list):
        raise AssertionError(f"`errors` is not a list: {errors!r}")
    return errors


@schemathesis.check
def no_server_error(ctx, response, case):
    """No 5xx status, and no error the service itself labels as unexpected."""
    if response.status_code >= 500:
        raise AssertionError(f"server error {response.status_code}: {response.content[:300]!r}")
    for error in _errors(response):
        extensions = error.get("extensions") if isinstance(error, dict) else None
        if isinstance(extensions, dict) and extensions.get("code") == "INTERNAL_SERVER_ERROR":
            raise AssertionError(f"an internal error: {error!r}")
    return None


@schemathesis.check
def errors_are_well_formed(ctx, response, case):
    """Every error has a message and `extensions.code`; an internal one has a `requestId`."""
    for error in _errors(response):
        if not isinstance(error, dict) or not isinstance(error.get("message"), str):
            raise AssertionError(f"an error without a message: {error!r}")
        extensions = error.get("extensions")
        if not isinstance(extensions, dict) or not isinstance(extensions.get("code"), str):
            raise AssertionError(f"an error without extensions.code: {error!r}")
        if extensions["code"] == "INTERNAL_SERVER_ERROR" and "requestId" not in extensions:
            raise AssertionError(f"an internal error without requestId: {error!r}")
    return None
