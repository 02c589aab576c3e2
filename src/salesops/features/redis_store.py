"""Redis as the online store (`feature_store.online = "redis"`): URL to Feast's connection
string, and a check that says exactly what is wrong. The password is never printed."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from salesops.config import Settings
from salesops.errors import ConfigError, ServiceUnavailable

CONNECT_TIMEOUT_S = 5


def redis_parts(settings: Settings) -> dict[str, object]:
    if settings.feature_store.redis_url is None:
        raise ConfigError("feature_store.redis_url is required with online = \"redis\"",
                          hint="e.g. SALESOPS_FEATURE_STORE__REDIS_URL=redis://127.0.0.1:6379/0")
    parts = urlsplit(settings.feature_store.redis_url.get_secret_value())
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ConfigError("feature_store.redis_url must look like redis://[:PASSWORD@]HOST:PORT/DB")
    try:
        db = int(parts.path.lstrip("/") or 0)
        port = parts.port or 6379
    except ValueError:
        raise ConfigError("feature_store.redis_url: the port and the database must be numbers") \
            from None
    return {"host": parts.hostname, "port": port, "db": db,
            "username": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password else None,
            "ssl": parts.scheme == "rediss"}


def connection_string(settings: Settings) -> str:
    """Feast's format: host:port,db=N[,username=U][,password=P][,ssl=true]."""
    parts = redis_parts(settings)
    items = [f"{parts['host']}:{parts['port']}", f"db={parts['db']}"]
    for key in ("username", "password"):
        if parts[key]:
            items.append(f"{key}={parts[key]}")
    if parts["ssl"]:
        items.append("ssl=true")
    return ",".join(items)


def check(settings: Settings) -> str:
    """PING the server with the configured credentials; returns 'host:port/db'."""
    import redis

    parts = redis_parts(settings)
    where = f"{parts['host']}:{parts['port']}/{parts['db']}"
    client = redis.Redis(host=parts["host"], port=parts["port"], db=parts["db"],
                         username=parts["username"], password=parts["password"],
                         ssl=parts["ssl"], socket_connect_timeout=CONNECT_TIMEOUT_S,
                         socket_timeout=CONNECT_TIMEOUT_S)
    try:
        client.ping()
    except redis.AuthenticationError:
        raise ConfigError(f"Redis at {where} refused the credentials",
                          hint="fix the password in feature_store.redis_url") from None
    except redis.ResponseError as exc:
        if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
            raise ConfigError(f"Redis at {where} needs a password: {exc}",
                              hint="put it in feature_store.redis_url") from None
        raise ServiceUnavailable(f"Redis at {where}: {exc}") from None
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise ServiceUnavailable(f"Redis at {where} does not answer: {exc}",
                                 hint="start the server or fix feature_store.redis_url") from None
    finally:
        client.close()
    return where
