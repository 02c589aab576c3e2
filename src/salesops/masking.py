"""Credentials out of everything salesops prints: `mask_url(text)` is the one function to call.

A URL carries a secret in two places: its user info (`postgresql://user:PASSWORD@host/db`,
`redis://:PASSWORD@host`) and its query (`postgresql://host/db?user=u&password=PASSWORD`,
`https://host/x?token=T`, a presigned `...&X-Amz-Signature=S`); libpq's keyword form has
`password=...`. `mask_url` replaces each such value with `***` wherever it stands in a text,
so it serves a bare URL as well as an error message or a log line that quotes one. User
names, hosts, ports and paths stay: they tell a reader which server was meant. Light on
purpose (re only): the CLI's error path calls it on every message.
"""

from __future__ import annotations

import re

MASK = "***"
#: query parameters whose value is a credential (compared lower-case, `-` read as `_`)
SECRET_PARAMS = re.compile(
    r"(pass(word|wd)?|pwd|sslpassword|secret|.*_secret|token|.*_token|api_?key|access_?key|"
    r"auth|authorization|sig|signature|x_amz_signature|x_amz_credential|x_amz_security_token|"
    r"credentials?)$"
)
#: a URL: scheme://, then everything up to white space or a quote/bracket that ends it in text
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")
#: libpq's keyword form, `host=db user=u password=secret`; not a shell's command
#: substitution (`password="$(openssl rand -hex 24)"` in a hint is how to make one, not one)
_DSN_PASSWORD = re.compile(
    r"\b((?:ssl)?password)\s*=\s*(?!\"?\$\()(?:'(?:[^'\\]|\\.)*'|[^\s&]+)", re.IGNORECASE)
#: `host:8080/path@x`: an @ in a path after a port, not user info
_HOST_PORT_PATH = re.compile(r"[^:/@]*:\d+/")


def mask_url(text: str) -> str:
    """`text` with the password and secret query values of every URL in it replaced by ***.

    >>> mask_url("postgresql://u:pw@db:5432/x?sslmode=require&password=pw2")
    'postgresql://u:***@db:5432/x?sslmode=require&password=***'
    """
    text = _URL.sub(lambda match: _mask_one(match.group(0)), text)
    return _DSN_PASSWORD.sub(lambda match: f"{match.group(1)}={MASK}", text)


def mask_secret(value: str) -> str:
    """A secret setting's value for display: a URL with its credentials masked; anything
    else (a bare password or token) entirely."""
    return mask_url(value) if _URL.fullmatch(value) else MASK


def _mask_one(url: str) -> str:
    scheme, rest = url.split("://", 1)
    # the authority ends at the first / ? or # after the user info; a password may hold an
    # unescaped @ or /, so the user info ends at the LAST @ before the query
    query_at = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    at = rest.rfind("@", 0, query_at)
    if at >= 0 and not _HOST_PORT_PATH.match(rest[:at]):
        userinfo, rest = rest[:at], rest[at:]
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":" + MASK
        rest = userinfo + rest
    head, sep, query = rest.partition("?")
    if sep:
        query, hash_, fragment = query.partition("#")
        query = "&".join(_mask_param(part) for part in query.split("&")) + hash_ + fragment
    return f"{scheme}://{head}{sep}{query}"


def _mask_param(part: str) -> str:
    name, eq, value = part.partition("=")
    if eq and value and SECRET_PARAMS.match(name.lower().replace("-", "_")):
        return f"{name}={MASK}"
    return part
