"""Settings and secrets: generated once, kept private, never placeholders."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings, async_database_url, load_or_create_secrets


def test_missing_secrets_are_generated_once_with_owner_only_access(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = settings.secret("jwt_secret")
    path = tmp_path / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert Settings(data_dir=tmp_path).secret("jwt_secret") == first
    assert settings.secret("field_encryption_key") != first
    assert load_or_create_secrets(tmp_path)["session_secret"]


def test_given_secrets_win_and_placeholders_are_refused(tmp_path: Path) -> None:
    given = "x" * 40
    assert Settings(data_dir=tmp_path, jwt_secret=given).secret("jwt_secret") == given
    assert not (tmp_path / "secrets.json").exists()
    for bad in ("changeme", "short-secret"):
        with pytest.raises(ValidationError):
            Settings(data_dir=tmp_path, jwt_secret=bad)


def test_secrets_are_not_shown_in_settings_repr(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, jwt_secret="s" * 40, smtp_password="pw-123")
    assert "s" * 40 not in repr(settings) and "pw-123" not in repr(settings)


def test_settings_come_from_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAMWELL_ACCESS_TOKEN_MINUTES", "7")
    monkeypatch.setenv("TEAMWELL_DATABASE_URL", "postgresql://u:p@127.0.0.1:5432/tw")
    settings = Settings()
    assert settings.access_token_minutes == 7
    assert settings.effective_database_url == "postgresql+asyncpg://u:p@127.0.0.1:5432/tw"
    assert not settings.is_sqlite


def test_default_database_is_sqlite_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{tmp_path}/teamwell.db"
    assert async_database_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"


def test_the_audit_checkpoint_settings(tmp_path: Path) -> None:
    """The checkpoint key is a secret of its own (generated, or given and never a placeholder);
    the file is under the data directory unless named; the interval is bounded."""
    settings = Settings(data_dir=tmp_path)
    generated = settings.secret("audit_checkpoint_key")
    assert len(generated) >= 32 and generated != settings.secret("jwt_secret")
    assert settings.audit_checkpoint_file == tmp_path / "audit-checkpoints"
    elsewhere = tmp_path / "elsewhere" / "checkpoints"
    assert Settings(audit_checkpoint_path=elsewhere).audit_checkpoint_file == elsewhere
    for bad in ("changeme", "x" * 31):
        with pytest.raises(ValidationError):
            Settings(data_dir=tmp_path, audit_checkpoint_key=bad)
    assert Settings(audit_checkpoint_key="x" * 32).secret("audit_checkpoint_key") == "x" * 32
    for edge, accepted in ((0.01, True), (0.009, False), (3600, True), (3600.1, False)):
        if accepted:
            assert Settings(audit_checkpoint_seconds=edge).audit_checkpoint_seconds == edge
        else:
            with pytest.raises(ValidationError):
                Settings(audit_checkpoint_seconds=edge)


def test_websocket_origins_are_the_public_urls_and_the_allowed_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEAMWELL_PUBLIC_URL", "https://Teamwell.Example.org/")
    monkeypatch.setenv(
        "TEAMWELL_ALLOWED_ORIGINS", '["https://intranet.example.org:443", "http://10.0.0.5:8080"]'
    )
    assert Settings().websocket_origins == {
        "https://teamwell.example.org",
        "https://intranet.example.org",
        "http://10.0.0.5:8080",
    }
    # Not origins: a path, no scheme, another scheme, credentials, the opaque "null".
    for bad in (
        "https://a.example/app",
        "a.example",
        "ftp://a.example",
        "https://u:p@a.example",
        "null",
    ):
        with pytest.raises(ValidationError):
            Settings(allowed_origins=[bad])
