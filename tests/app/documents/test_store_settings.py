"""The settings of the S3 store and of clamd: read from TEAMWELL_*, complete or refused at
start, each limit held at its edge, and the store and scanner they make."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings
from app.documents.clamd import ClamdScanner
from app.documents.s3 import S3Store
from app.documents.scanning import scanner_from_settings
from app.documents.storage import LocalFolderStore, store_from_settings

S3 = {
    "TEAMWELL_DOCUMENT_STORE": "s3",
    "TEAMWELL_S3_ENDPOINT_URL": "https://objects.example.org",
    "TEAMWELL_S3_BUCKET": "teamwell-documents",
    "TEAMWELL_S3_REGION": "eu-west-2",
    "TEAMWELL_S3_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "TEAMWELL_S3_SECRET_ACCESS_KEY": "a-real-secret-of-the-deployment",
}


def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> Settings:
    monkeypatch.setenv("TEAMWELL_DATA_DIR", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_the_s3_settings_make_an_s3_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    chosen = settings(monkeypatch, tmp_path, **S3)
    store = store_from_settings(chosen)
    assert isinstance(store, S3Store)
    assert (store.endpoint_url, store.bucket, store.region) == (
        "https://objects.example.org",
        "teamwell-documents",
        "eu-west-2",
    )
    assert "a-real-secret" not in repr(chosen) and "a-real-secret" not in repr(store)


def test_the_default_store_is_the_local_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert isinstance(store_from_settings(settings(monkeypatch, tmp_path)), LocalFolderStore)


@pytest.mark.parametrize(
    "unset", ["TEAMWELL_S3_BUCKET", "TEAMWELL_S3_ACCESS_KEY_ID", "TEAMWELL_S3_SECRET_ACCESS_KEY"]
)
def test_an_s3_store_with_a_setting_missing_does_not_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, unset: str
) -> None:
    with pytest.raises(ValidationError, match=unset):
        settings(monkeypatch, tmp_path, **{**S3, unset: " "})


def test_an_s3_placeholder_secret_or_odd_endpoint_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        settings(monkeypatch, tmp_path, **{**S3, "TEAMWELL_S3_SECRET_ACCESS_KEY": "changeme"})
    with pytest.raises(ValidationError, match="http"):
        settings(monkeypatch, tmp_path, **{**S3, "TEAMWELL_S3_ENDPOINT_URL": "ftp://objects"})
    # An empty endpoint is AWS itself.
    aws = settings(monkeypatch, tmp_path, **{**S3, "TEAMWELL_S3_ENDPOINT_URL": ""})
    store = store_from_settings(aws)
    assert isinstance(store, S3Store) and store.endpoint_url is None


def test_no_clamd_host_means_scanning_is_not_configured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert scanner_from_settings(settings(monkeypatch, tmp_path)) is None


def test_the_clamd_settings_make_a_scanner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    chosen = settings(
        monkeypatch,
        tmp_path,
        TEAMWELL_CLAMD_HOST="clamav.internal",
        TEAMWELL_CLAMD_PORT="3311",
        TEAMWELL_CLAMD_TIMEOUT_SECONDS="12.5",
    )
    scanner = scanner_from_settings(chosen)
    assert isinstance(scanner, ClamdScanner)
    assert (scanner.host, scanner.port, scanner.timeout_seconds) == ("clamav.internal", 3311, 12.5)


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("TEAMWELL_CLAMD_PORT", ["1", "65535"], ["0", "65536", "3310.5"]),
        ("TEAMWELL_CLAMD_TIMEOUT_SECONDS", ["0.001", "600"], ["0", "600.001"]),
    ],
)
def test_the_clamd_limits_at_their_edges(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, good: list[str], bad: list[str]
) -> None:
    for value in good:
        settings(monkeypatch, tmp_path, **{name: value})
    for value in bad:
        with pytest.raises(ValidationError):
            settings(monkeypatch, tmp_path, **{name: value})
