"""Configuration from environment variables (documented in ``.env.example``).

Everything is validated at start-up; a bad value stops the service with a message that says
how to fix it rather than failing on the first request.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DATA_DIR = Path("data")


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # --- serving -------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(8001, ge=1, le=65535)
    environment: Literal["development", "production", "test"] = "development"
    log_level: str = "INFO"
    log_json: bool = False
    access_log: bool = True  # our structured access log (route template, masked IP, request id)
    # FastAPI's OpenTelemetry bridge: off unless an OpenTelemetry SDK is set up in the process
    # (it only checks, per request, whether one is; metrics and logs here are our own).
    otel_telemetry: bool = False
    frontend_dist: Path | None = None
    max_body_bytes: int = Field(1_048_576, ge=1024)

    # --- storage -------------------------------------------------------------------------
    database_url: str = f"sqlite+aiosqlite:///{DATA_DIR}/user_service.db"
    redis_url: str | None = None
    redis_key_prefix: str = Field("qus", pattern=r"^[A-Za-z0-9_.:-]{1,40}$")
    database_pool_size: int = Field(10, ge=1)
    # PostgreSQL time limits of the serving engine: a database that is down, restarting or
    # frozen costs a request a quick 503 instead of a hang (docs/reliability.md).
    db_connect_timeout_seconds: float = Field(2.0, gt=0, le=60)
    db_pool_timeout_seconds: float = Field(2.0, gt=0, le=120)
    db_statement_timeout_seconds: float = Field(5.0, gt=0, le=600)
    # One Redis call (connect or command): past it, rate limits fall back to the instance's
    # own windows and the cache to the database, so a slow Redis never slows a request much.
    redis_timeout_seconds: float = Field(0.5, gt=0, le=30)
    sql_echo: bool = False

    # --- cryptography --------------------------------------------------------------------
    kms_master_key_file: Path = DATA_DIR / "master.key"
    jwt_key_size: int = Field(4096, ge=2048, le=8192)
    jwt_issuer: str = "user_service"
    jwt_audience: str = "trading_platform"
    access_token_ttl_seconds: int = Field(900, ge=60, le=3600)
    service_token_ttl_seconds: int = Field(3600, ge=60, le=86400)
    signing_key_refresh_seconds: int = Field(30, ge=1, le=30)
    # How long `keys rotate` publishes a new key before it signs (≥ the JWKS cache lifetime,
    # 30 s, plus a margin), so verifiers never meet an unknown kid. ≤ 55 s: docs/api.md §4
    # wants every instance signing with the new key within 60 s.
    signing_key_publish_lead_seconds: int = Field(45, ge=0, le=55)
    bcrypt_rounds: int = Field(12, ge=4, le=16)
    password_hash_workers: int = Field(4, ge=1, le=64)

    # --- sessions ------------------------------------------------------------------------
    session_max_age_days: int = Field(90, ge=1)
    session_idle_days: int = Field(14, ge=1)
    refresh_reuse_grace_seconds: int = Field(5, ge=0, le=60)
    mfa_challenge_ttl_seconds: int = Field(600, ge=60, le=3600)
    mfa_challenge_max_attempts: int = Field(5, ge=1, le=20)
    # Enrolling or removing a second factor needs a password or second-factor proof this
    # recent (docs/passkeys.md, "recent authentication").
    recent_auth_seconds: int = Field(300, ge=30, le=3600)
    # Users holding one of these roles must keep a second factor (the last one cannot go).
    mfa_required_roles: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["admin"])
    # --- passkeys (WebAuthn) ---------------------------------------------------------------
    # Relying-party id: by default the host of FRONTEND_URL (where the console runs); an
    # operator may set a parent domain ("quantagro.com") to share passkeys across subdomains.
    webauthn_rp_id: str | None = None
    webauthn_rp_name: str = "Quantagro"
    # Origins allowed in a ceremony's clientDataJSON; default FRONTEND_URL's and PUBLIC_URL's.
    webauthn_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    webauthn_challenge_ttl_seconds: int = Field(300, ge=30, le=900)
    cookie_secure: bool = True
    cookie_name: str = "refresh_token"

    # --- web -----------------------------------------------------------------------------
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    frontend_url: str = "http://127.0.0.1:8001"
    # The service's own address as clients reach it: discovery and e-mail links are built from
    # it, never from the request's Host header. Default: http://HOST:PORT.
    public_url: str = "http://127.0.0.1:8001"
    # Host names the service answers to (besides PUBLIC_URL's); in production any other Host
    # header is refused with 400, so nothing can be steered by a forged one.
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Extra origins the console may connect to (CSP connect-src): the platform's services the
    # Platform page calls, e.g. http://127.0.0.1:8081,ws://127.0.0.1:8080.
    csp_connect_sources: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # --- password policy -----------------------------------------------------------------
    password_min_length: int = Field(12, ge=8, le=128)
    password_composition_rules: bool = True
    password_min_zxcvbn_score: int = Field(2, ge=0, le=4)

    # --- rate limits (limits' notation: "N per M unit") ----------------------------------
    rate_limit_login_account: str = "5 per 15 minutes"
    rate_limit_login_ip: str = "100 per 15 minutes"
    rate_limit_register_ip: str = "5 per hour"
    # Sign-ins started with an identity provider per IP (each writes a short-lived flow row).
    rate_limit_oidc_start_ip: str = "60 per minute"
    rate_limit_refresh_session: str = "10 per minute"
    rate_limit_mfa_verify: str = "10 per 5 minutes"
    rate_limit_password_reset: str = "5 per hour"
    rate_limit_email_resend: str = "5 per hour"
    # Passwordless ceremonies started per IP (each stores a challenge; the login page starts
    # one per visit for the browser's autofill, so it is looser than failed logins).
    rate_limit_passkey_ip: str = "300 per 15 minutes"

    # --- authorization & oauth -----------------------------------------------------------
    authz_cache_ttl_seconds: int = Field(60, ge=0, le=60)
    authz_cache_max_entries: int = Field(50_000, ge=100)
    rate_limit_client_auth: str = "20 per 5 minutes"  # failed client authentications per IP

    # --- mail ----------------------------------------------------------------------------
    smtp_host: str | None = None
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    mail_from: str = "Quantagro <no-reply@quantagro.local>"
    mail_dir: Path = DATA_DIR / "mail"

    # --- mfa & recovery ------------------------------------------------------------------
    password_reset_ttl_minutes: int = Field(30, ge=5, le=24 * 60)
    email_verification_ttl_hours: int = Field(24, ge=1, le=24 * 14)
    rate_limit_password_reset_ip: str = "20 per hour"
    # reset-request answers no sooner than this, for known and unknown emails alike
    password_reset_min_response_seconds: float = Field(0.25, ge=0, le=5)
    smtp_tls: bool = False  # implicit TLS (port 465); SMTP_STARTTLS upgrades a plain connection
    smtp_timeout_seconds: float = Field(10.0, gt=0, le=120)
    mail_send_attempts: int = Field(8, ge=1, le=100)
    mail_retry_initial_seconds: float = Field(1.0, gt=0, le=60)
    mail_retry_max_seconds: float = Field(60.0, gt=0, le=3600)
    mail_max_pending: int = Field(1000, ge=1)
    mail_concurrency: int = Field(4, ge=1, le=64)
    mail_shutdown_grace_seconds: float = Field(5.0, ge=0, le=60)

    # --- broker --------------------------------------------------------------------------
    kite_api_base_url: str = "https://api.kite.trade"
    kite_login_url: str = "https://kite.zerodha.com/connect/login"
    kite_timeout_seconds: float = Field(10.0, gt=0, le=60)

    # --- sign-in with an OpenID Connect provider (docs/oidc.md) ----------------------------
    # "Sign in with Google" is on when the issuer, client id and secret are all set; any
    # OIDC provider works (the discovery document is read from the issuer).
    oidc_google_issuer: str | None = None  # https://accounts.google.com
    oidc_google_client_id: str | None = None
    oidc_google_client_secret: SecretStr | None = None
    oidc_flow_ttl_seconds: int = Field(600, ge=60, le=3600)  # start → callback → link step
    oidc_http_timeout_seconds: float = Field(10.0, gt=0, le=60)
    oidc_discovery_cache_seconds: int = Field(3600, ge=0, le=86400)

    # --- trading accounts ----------------------------------------------------------------
    # Sharing looks users up by email: bound how many lookups one user can make (enumeration).
    rate_limit_account_member_add: str = "30 per hour"

    # --- sign-in risk (docs/risk.md) ------------------------------------------------------
    # notify: a risky sign-in goes through and is e-mailed; require_mfa: it needs the second
    # factor, so a user without one is refused (403 risky_sign_in_needs_mfa) and e-mailed.
    risky_sign_in_policy: Literal["notify", "require_mfa"] = "notify"
    risky_sign_in_score: int = Field(60, ge=1, le=100)  # a score at or above it is risky
    impossible_travel_kmh: int = Field(1000, ge=100, le=20000)

    # --- audit retention (docs/audit-retention.md) ----------------------------------------
    audit_retention_days: int = Field(730, ge=7)
    audit_partitions_ahead_weeks: int = Field(8, ge=1, le=104)
    audit_maintenance_interval_seconds: int = Field(3600, ge=0)  # 0: only `audit prune`
    audit_maintenance_start_delay_seconds: float = Field(60.0, ge=0)
    # Outbox events older than this are deleted once no consumer can be owed them (with Redis:
    # once relayed); pruned on the audit maintenance interval.
    outbox_retention_days: int = Field(7, ge=1, le=3650)

    @field_validator(
        "cors_origins",
        "trusted_proxies",
        "allowed_hosts",
        "csp_connect_sources",
        "mfa_required_roles",
        "webauthn_origins",
        mode="before",
    )
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(
                    f"TRUSTED_PROXIES entry {item!r} is not an IP address or CIDR "
                    "(example: 10.0.0.0/8,127.0.0.1)"
                ) from exc
        return value

    @field_validator("cors_origins")
    @classmethod
    def _valid_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin == "*":
                raise ValueError(
                    "CORS_ORIGINS cannot be '*': the refresh cookie needs credentialed CORS, "
                    "list the exact origins (example: https://app.quantagro.in)"
                )
            if not origin.startswith(("http://", "https://")) or origin.endswith("/"):
                raise ValueError(
                    f"CORS_ORIGINS entry {origin!r} must be an origin like "
                    "https://app.example.com (scheme and host, no trailing slash)"
                )
        return value

    @field_validator("webauthn_rp_id")
    @classmethod
    def _rp_id_is_a_domain(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().lower().rstrip(".")
        hint = (
            f"WEBAUTHN_RP_ID {value!r} must be a domain name like quantagro.com or localhost "
            "(no scheme, port or path"
        )
        if any(char in value for char in ":/ ?#@") or "." in (value[0], value[-1]):
            raise ValueError(hint + ")")
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return value
        raise ValueError(hint + "; browsers refuse an IP address as a relying-party id)")

    @field_validator("webauthn_origins")
    @classmethod
    def _webauthn_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            parts = urlsplit(origin)
            secure = parts.scheme == "https" or (
                parts.scheme == "http" and parts.hostname == "localhost"
            )
            if not secure or not parts.hostname or parts.path or parts.query or parts.fragment:
                raise ValueError(
                    f"WEBAUTHN_ORIGINS entry {origin!r} must be an origin like "
                    "https://app.quantagro.com (https, or http://localhost:PORT; no path)"
                )
        return value

    @model_validator(mode="after")
    def _webauthn_origins_under_rp_id(self) -> Settings:
        """Browsers only run a ceremony for an RP id equal to or a parent of the page's host:
        a listed origin outside it could never work, and neither could a console outside an
        explicit WEBAUTHN_RP_ID."""
        rp = self.webauthn_rp

        def under(origin: str) -> bool:
            host = urlsplit(origin).hostname or ""
            return host == rp or host.endswith("." + rp)

        outside = [origin for origin in self.webauthn_origins if not under(origin)]
        if outside:
            raise ValueError(
                f"WEBAUTHN_ORIGINS {', '.join(outside)} must be on the relying-party id {rp!r} "
                "or one of its subdomains (set WEBAUTHN_RP_ID to a common parent domain)"
            )
        if self.webauthn_rp_id and not any(map(under, self.webauthn_expected_origins)):
            raise ValueError(
                f"WEBAUTHN_RP_ID {rp!r} must be FRONTEND_URL's host or a parent domain of it "
                f"(the console at {self.frontend_origin} could not use its passkeys)"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + value.removeprefix("sqlite:///")
        if not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError(
                "DATABASE_URL must be postgresql+asyncpg://… or sqlite+aiosqlite:///path.db"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("REDIS_URL must start with redis://, rediss:// or unix://")
        return value

    @field_validator("csp_connect_sources")
    @classmethod
    def _valid_sources(cls, value: list[str]) -> list[str]:
        for source in value:
            if not source.startswith(("http://", "https://", "ws://", "wss://")) or any(
                char in source for char in " ;,'\""
            ):
                raise ValueError(
                    f"CSP_CONNECT_SOURCES entry {source!r} must be an origin like "
                    "https://api.example.com or wss://ticker.example.com"
                )
        return value

    @field_validator("public_url", "frontend_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")) or "?" in value or "#" in value:
            raise ValueError("must be a base URL like https://id.example.com (no query string)")
        return value

    @model_validator(mode="after")
    def _default_urls(self) -> Settings:
        """Without PUBLIC_URL the service is addressed as http://HOST:PORT; without
        FRONTEND_URL, e-mailed links point at PUBLIC_URL (it serves the app)."""
        if "public_url" not in self.model_fields_set:
            host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host  # noqa: S104
            self.public_url = f"http://{host}:{self.port}"
        if "frontend_url" not in self.model_fields_set:
            self.frontend_url = self.public_url
        return self

    @field_validator("oidc_google_issuer")
    @classmethod
    def _issuer_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")) or "?" in value or "#" in value:
            raise ValueError("must be the issuer URL, like https://accounts.google.com")
        return value

    @model_validator(mode="after")
    def _oidc_over_https_in_production(self) -> Settings:
        issuer = self.oidc_google_issuer
        if self.environment == "production" and issuer and not issuer.startswith("https://"):
            raise ValueError("OIDC_GOOGLE_ISSUER must be an https:// URL in production")
        return self

    @model_validator(mode="after")
    def _secure_cookie_in_production(self) -> Settings:
        if self.environment == "production" and not self.cookie_secure:
            raise ValueError("COOKIE_SECURE=false is only allowed outside production")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def frontend_origin(self) -> str:
        scheme, rest = self.frontend_url.split("://", 1)
        return f"{scheme}://{rest.split('/', 1)[0]}"

    @property
    def public_host(self) -> str:
        return self.public_url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]

    @property
    def public_origin(self) -> str:
        scheme, rest = self.public_url.split("://", 1)
        return f"{scheme}://{rest.split('/', 1)[0]}"

    @property
    def webauthn_rp(self) -> str:
        """The WebAuthn relying-party id: WEBAUTHN_RP_ID, else FRONTEND_URL's host name.

        Browsers refuse an IP address as an RP id, so the loopback address of the embedded
        default (``http://127.0.0.1:8001``) stands for ``localhost``: passkeys then work on
        ``http://localhost:8001``, the same server.
        """
        if self.webauthn_rp_id:
            return self.webauthn_rp_id
        host = urlsplit(self.frontend_origin).hostname or ""
        return "localhost" if host in _LOOPBACK_ADDRESSES else host

    @property
    def webauthn_expected_origins(self) -> list[str]:
        """Origins a WebAuthn ceremony may come from (WEBAUTHN_ORIGINS, else the console's,
        and its ``localhost`` twin when the console is on a loopback address)."""
        if self.webauthn_origins:
            return self.webauthn_origins
        return sorted(_with_localhost_twins({self.frontend_origin, self.public_origin}))

    @property
    def host_allow_list(self) -> list[str]:
        """Hosts accepted in the Host header in production (PUBLIC_URL's plus ALLOWED_HOSTS)."""
        return sorted({self.public_host, *self.allowed_hosts})

    @property
    def allowed_origins(self) -> set[str]:
        """Origins allowed to send credentialed requests (CORS and the refresh/logout check);
        a console on a loopback address may also be opened as ``localhost`` (passkeys need it)."""
        return {*self.cors_origins, *_with_localhost_twins({self.frontend_origin})}


_LOOPBACK_ADDRESSES = frozenset({"127.0.0.1", "::1"})


def _with_localhost_twins(origins: set[str]) -> set[str]:
    """``origins`` plus ``http://localhost:PORT`` for each one on a loopback IP address."""
    twins = set(origins)
    for origin in origins:
        parts = urlsplit(origin)
        if parts.hostname in _LOOPBACK_ADDRESSES:
            port = f":{parts.port}" if parts.port else ""
            twins.add(f"{parts.scheme}://localhost{port}")
    return twins


@lru_cache
def get_settings() -> Settings:
    return Settings()  # values come from the environment
