"""The Redis server of the online store (`feature_store.online = "redis"`): its URL as a
typed target and as Feast's connection string, and a check that says exactly what is
wrong. The password is never printed."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from salesops.config import Settings
from salesops.errors import ConfigError, ServiceUnavailable

CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True)
class RedisTarget:
    host: str
    port: int
    db: int
    username: str | None
    password: str | None
    ssl: bool

    @property
    def where(self) -> str:
        """What a message may say (never the password)."""
        return f"{self.host}:{self.port}/{self.db}"


def redis_target(settings: Settings) -> RedisTarget:
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
    return RedisTarget(host=parts.hostname, port=port, db=db,
                       username=unquote(parts.username) if parts.username else None,
                       password=unquote(parts.password) if parts.password else None,
                       ssl=parts.scheme == "rediss")


def connection_string(settings: Settings) -> str:
    """Feast's format: host:port,db=N[,username=U][,password=P][,ssl=true]."""
    target = redis_target(settings)
    items = [f"{target.host}:{target.port}", f"db={target.db}"]
    for key in ("username", "password"):
        if getattr(target, key):
            items.append(f"{key}={getattr(target, key)}")
    if target.ssl:
        items.append("ssl=true")
    return ",".join(items)


def check(settings: Settings) -> str:
    """PING the server with the configured credentials; returns 'host:port/db'."""
    import redis

    target = redis_target(settings)
    where = target.where
    client = redis.Redis(host=target.host, port=target.port, db=target.db,
                         username=target.username, password=target.password,
                         ssl=target.ssl, socket_connect_timeout=CONNECT_TIMEOUT_S,
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
