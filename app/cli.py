"""The ``teamwell`` command: migrate, create-admin, seed-demo, verify-audit, verify-trial,
serve, demo, backup, restore, backup-keygen."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import os
import secrets
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlmodel.ext.asyncio.session import AsyncSession

from app import migrate as migrations
from app.audit import checkpoints as audit_checkpoints
from app.audit import service as audit_service
from app.clock import SystemClock
from app.config import Settings, get_settings
from app.context import Actor, Context
from app.db import create_engine, session_factory
from app.documents import jobs as documents_jobs
from app.documents import service as documents_service
from app.documents.storage import ObjectStore
from app.evaluation import service as evaluation_service
from app.evaluation.models import EvaluationTrial
from app.messaging.keyring import (
    keyring_from_settings,
    reencrypt_column,
    reencrypt_messages,
    reencrypt_revisions,
    rotate_key,
)
from app.notifications import service as notifications_service
from app.notifications.channels import channels_for
from app.organisations import service as organisations_service
from app.organisations.models import OrganisationKind
from app.organisations.schemas import OrganisationCreate
from app.retention import service as retention_service
from app.users import service as users_service
from app.users.models import Role
from app.users.schemas import UserCreate
from auth.email import email_sender_for
from realtime.wire import PROTOCOL_PATH

T = TypeVar("T")
SYSTEM = Actor(user_id=None, role=None, organisation_id=None, user_agent="teamwell-cli")


async def _in_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            result = await work(session)
            await session.commit()
            return result
    finally:
        await engine.dispose()


def _system_context() -> Context:
    return Context(actor=SYSTEM, clock=SystemClock())


def _trial_context(trial: EvaluationTrial) -> Context:
    """The command line acting on an evaluation trial: recorded against the trial's
    organisation, so its supervisors see in the audit trail what was run."""
    return Context(
        actor=Actor(
            user_id=None,
            role=None,
            organisation_id=trial.organisation_id,
            user_agent=SYSTEM.user_agent,
        ),
        clock=SystemClock(),
    )


# `teamwell migrate --check`'s exit codes (docs/deploy.md, "Upgrades"): a deployment script
# tells "migrate first" from "this release is older than the schema" without reading the text.
CHECK_UP_TO_DATE = 0
CHECK_UNREACHABLE = 1
CHECK_PENDING = 3
CHECK_AHEAD = 4


def _read_migration_state(settings: Settings) -> migrations.MigrationState:
    url = settings.effective_database_url
    # A check must not leave an empty SQLite database file behind where none was.
    if url.startswith("sqlite") and not Path(url.split(":///", 1)[1]).exists():
        return migrations.state_at(None)
    return asyncio.run(_migration_state_of(settings))


async def _migration_state_of(settings: Settings) -> migrations.MigrationState:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(migrations.migration_state)
    finally:
        await engine.dispose()


def cmd_migrate_check(settings: Settings) -> int:
    try:
        state = _read_migration_state(settings)
    except Exception as error:  # any driver's refusal: said in one line, exit 1
        reason = (str(error).strip().splitlines() or [""])[0]
        print(f"the database cannot be read: {type(error).__name__}: {reason}", file=sys.stderr)
        return CHECK_UNREACHABLE
    print(f"database: {state.current or '(none: no migration applied)'}")
    print(f"code: {state.head}")
    if state.ahead:
        print(
            f"the database is at {state.current}, a migration this release does not know: "
            "a newer release has migrated it. Run that release, or this one only while its "
            "migrations are expand steps (docs/deploy.md, Upgrades)."
        )
        return CHECK_AHEAD
    if not state.pending:
        print("up to date")
        return CHECK_UP_TO_DATE
    print(f"pending, in order ({len(state.pending)}):")
    for revision in state.pending:
        print(f"  {revision}  {migrations.describe(revision)}")
    return CHECK_PENDING


def _upgrade_unless_ahead(settings: Settings) -> bool:
    """Migrate to this code's head; False, changing nothing, when the database is already past
    it (a newer release migrated it: alembic would fail on the revision it does not know)."""
    state = _read_migration_state(settings)
    if state.ahead:
        print(
            f"the database is at migration {state.current}, newer than this release's "
            f"{state.head}: left as it is",
            file=sys.stderr,
        )
        return False
    migrations.upgrade(settings.effective_database_url)
    return True


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    if getattr(args, "check", False):
        return cmd_migrate_check(settings)
    if not _upgrade_unless_ahead(settings):
        return CHECK_AHEAD
    print(f"database is at migration {migrations.head_revision()}")
    return 0


def cmd_create_admin(settings: Settings, args: argparse.Namespace) -> int:
    password = os.environ.get("TEAMWELL_ADMIN_PASSWORD") or getpass.getpass("Password: ")

    async def work(session: AsyncSession) -> str:
        ctx = _system_context()
        try:
            organisation = await organisations_service.get_by_slug(
                session=session, slug=args.organisation
            )
        except organisations_service.OrganisationNotFound:
            organisation = await organisations_service.create(
                session=session,
                ctx=ctx,
                data=OrganisationCreate(
                    slug=args.organisation,
                    name=args.organisation_name or args.organisation,
                    kind=OrganisationKind(args.kind),
                ),
            )
        user = await users_service.create(
            session=session,
            ctx=ctx,
            organisation_id=organisation.id,
            data=UserCreate(email=args.email, display_name=args.name, role=Role.admin),
            password=password,
        )
        await audit_service.record(
            session,
            ctx,
            action="user.create",
            resource_type="user",
            resource_id=user.id,
            detail="create-admin",
        )
        return user.email

    email = asyncio.run(_in_session(settings, work))
    print(f"admin {email} created")
    return 0


def _demo_logins_file(settings: Settings) -> Path:
    return settings.data_dir / "demo-logins.txt"


def cmd_seed_demo(settings: Settings, args: argparse.Namespace) -> int:
    from app.demo import seed_demo

    password = (
        args.password
        or os.environ.get("TEAMWELL_DEMO_PASSWORD")
        or ("demo-" + secrets.token_urlsafe(9))
    )

    async def work(session: AsyncSession) -> list[str]:
        logins = await seed_demo(
            session, _system_context(), password, keyring_from_settings(settings)
        )
        return [f"  {login.email:<42} {login.role:<22} {login.display_name}" for login in logins]

    lines = asyncio.run(_in_session(settings, work))
    text = (
        "\n".join(["Demo logins (all with the password below):", *lines, f"  password: {password}"])
        + "\n"
    )
    path = _demo_logins_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    print(text, end="")
    return 0


def cmd_verify_audit(settings: Settings, args: argparse.Namespace) -> int:
    paths = [settings.audit_checkpoint_file, *(Path(p) for p in args.checkpoints or [])]
    key = audit_checkpoints.settings_key(settings).public_key()
    verdict = asyncio.run(
        _in_session(settings, lambda session: audit_checkpoints.verify(session, paths, key))
    )
    asyncio.run(_record_verification(settings, intact=verdict.ok))
    if verdict.ok:
        print(
            f"audit chain intact: {verdict.checked} events verified, "
            f"{verdict.checkpoints} signed checkpoints matched"
        )
        return 0
    if verdict.broken_at is None:
        print(f"audit chain BROKEN: {verdict.reason} ({verdict.checked} events verified)")
    else:
        print(
            f"audit chain BROKEN at event {verdict.broken_at}: {verdict.reason} "
            f"({verdict.checked} events before it verified)"
        )
    return 1


async def _record_verification(settings: Settings, *, intact: bool) -> None:
    """Recorded as the web client's verification is (``audit.verify``, by the service itself),
    so the admins' System page says when the chain was last verified, from cron or by hand.
    A chain found intact is then checkpointed, so the event is itself covered by a signed
    checkpoint (as the service would cover it within its interval, were it running); a broken
    one is not: a checkpoint vouches for a chain as verified."""
    await _in_session(
        settings,
        lambda session: audit_service.record(
            session,
            _system_context(),
            action="audit.verify",
            resource_type="audit_chain",
            detail="intact" if intact else "broken",
        ),
    )
    if not intact:
        return
    engine = create_engine(settings)
    try:
        await audit_checkpoints.Checkpointer(
            session_factory(engine),
            path=settings.audit_checkpoint_file,
            key=audit_checkpoints.settings_key(settings),
            clock=SystemClock(),
            interval=settings.audit_checkpoint_seconds,
        ).checkpoint()
    finally:
        await engine.dispose()


def cmd_evaluation_extract(settings: Settings, args: argparse.Namespace) -> int:
    """Write the evaluators' extract of a trial as CSV (docs/evaluation.md). Without
    ``--key-file`` a fresh key is made and thrown away, so the extract joins with no other."""
    from app.evaluation import extract as evaluation_extract

    try:
        trial_id = uuid.UUID(args.trial_id)
    except ValueError:
        print(f"{args.trial_id!r} is not a trial id", file=sys.stderr)
        return 2
    if args.key_file:
        key = Path(args.key_file).read_bytes()
        if len(key) < evaluation_extract.KEY_BYTES:
            print(f"the key must be at least {evaluation_extract.KEY_BYTES} bytes", file=sys.stderr)
            return 2
    else:
        key = evaluation_extract.new_key()

    async def work(session: AsyncSession) -> str:
        trial = await evaluation_service.trial_by_id(session=session, trial_id=trial_id)
        ctx = _trial_context(trial)
        rows = await evaluation_extract.extract(
            session=session,
            trial=trial,
            key=key,
            as_of=ctx.now().date(),
            threshold=settings.report_suppression_threshold,
            window_days=settings.benefit_restart_window_days,
        )
        await audit_service.record(
            session,
            ctx,
            action="evaluation.extract",
            resource_type="evaluation_trial",
            resource_id=trial_id,
            detail=f"{len(rows)} participants, from the command line",
        )
        return evaluation_extract.to_csv(rows)

    body = asyncio.run(_in_session(settings, work))
    if args.out:
        Path(args.out).write_text(body)
    else:
        sys.stdout.write(body)
    return 0


def cmd_verify_trial(settings: Settings, args: argparse.Namespace) -> int:
    """Recompute an evaluation trial's allocations from its recorded seed (never printed)."""
    try:
        trial_id = uuid.UUID(args.trial_id)
    except ValueError:
        print(f"{args.trial_id!r} is not a trial id", file=sys.stderr)
        return 2
    keyring = keyring_from_settings(settings)

    async def work(session: AsyncSession) -> evaluation_service.Verification:
        trial = await evaluation_service.trial_by_id(session=session, trial_id=trial_id)
        ctx = _trial_context(trial)
        result = await evaluation_service.verify(
            session=session, keyring=keyring, trial=trial, now=ctx.now()
        )
        await audit_service.record(
            session,
            ctx,
            action="evaluation.verify",
            resource_type="evaluation_trial",
            resource_id=trial_id,
            detail=f"{result.matched} of {result.allocations} allocations match"
            + ("" if result.all_match else "; MISMATCH")
            + " (verify-trial)",
        )
        return result

    try:
        result = asyncio.run(_in_session(settings, work))
    except evaluation_service.TrialNotFound:
        print(f"no evaluation trial {trial_id}", file=sys.stderr)
        return 2
    for stratum in result.strata:
        missing = stratum.missing_positions
        gaps = f", missing positions {missing}" if missing else ""
        print(f"  {stratum.stratum}: {stratum.matched} of {stratum.allocations} match{gaps}")
    if not result.algorithm_matches:
        print(f"trial {trial_id} was made with {result.algorithm}, not this version's algorithm")
        return 1
    if result.all_match:
        print(f"trial {trial_id}: all {result.allocations} allocations match the recorded seed")
        return 0
    print(f"trial {trial_id}: MISMATCH, {result.matched} of {result.allocations} allocations match")
    for allocation_id in result.mismatched_allocation_ids:
        print(f"  allocation {allocation_id} differs from the sequence")
    return 1


class _KeepingStore:
    """A store that deletes nothing: a dry run's rows are rolled back, and so must its store's
    deletions be, which cannot be undone; reads and writes pass through."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    async def put(self, key: str, data: bytes) -> None:
        await self._store.put(key, data)

    async def get(self, key: str) -> bytes:
        return await self._store.get(key)

    async def delete(self, key: str) -> None:
        return None

    async def close(self) -> None:
        await self._store.close()


def cmd_retention(settings: Settings, args: argparse.Namespace) -> int:
    """Remove what has outlived its retention, documents too (as the ``retention.run`` and
    ``documents.retention`` jobs do, through the same code); audited with counts."""
    policy = retention_service.policy_from_settings(settings)
    keyring = keyring_from_settings(settings)
    documents = documents_service.runtime_from_settings(settings, keyring)
    if args.dry_run:
        documents = dataclasses.replace(documents, store=_KeepingStore(documents.store))
    removed_documents = 0

    async def work(session: AsyncSession) -> retention_service.RetentionReport:
        nonlocal removed_documents
        ctx = _system_context()
        try:
            report = await retention_service.run(
                session=session, ctx=ctx, policy=policy, keyring=keyring, documents=documents
            )
            done = await documents_jobs.apply_retention(session=session, ctx=ctx, runtime=documents)
        finally:
            await documents.store.close()
        removed_documents = len(done.documents)
        if args.dry_run:
            await session.rollback()
        return report

    report = asyncio.run(_in_session(settings, work))
    verb = "would remove" if args.dry_run else "removed"
    print(f"retention {verb}: {report.summary()} document={removed_documents}")
    for table, count in sorted(report.with_client_records.items()):
        print(f"  with the client records, {table}: {count}")
    return 0


def cmd_run_jobs(settings: Settings, args: argparse.Namespace) -> int:
    """Run scheduled jobs in a process of their own (besides, or instead of, the servers'
    runners, `TEAMWELL_JOBS_IN_SERVICE`), until SIGTERM or SIGINT; `--once` runs one round."""
    return asyncio.run(run_jobs(settings, once=args.once))


async def run_jobs(settings: Settings, *, once: bool = False) -> int:
    from app.jobs.runner import JobRunner  # the handlers import most of the service
    from realtime.hub import Hub
    from realtime.pubsub import create_pubsub

    engine = create_engine(settings)
    # Events go to the servers' sockets through Redis (TEAMWELL_REDIS_URL); without it, this
    # process has no sockets and what jobs announce reaches people when they next read.
    hub = Hub(create_pubsub(settings.redis_url))
    await hub.start()
    runner = JobRunner(session_factory(engine), hub, settings=settings, clock=SystemClock())
    try:
        if once:
            report = await runner.tick()
            print(f"jobs: claimed={report.claimed} done={report.done} failed={report.failed}")
            return 0
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        runner.start()
        print(f"jobs: running as {runner.worker}", flush=True)
        await stopping.wait()
        await runner.stop()
        return 0
    finally:
        await hub.stop()
        await engine.dispose()


def cmd_deliver_notifications(settings: Settings, _args: argparse.Namespace) -> int:
    """Send the notifications that are due (docs/notifications.md). The service's scheduled
    work runs the same; this runs it once, by hand or from an outside scheduler."""
    channels = channels_for(settings, email_sender_for(settings))
    now = SystemClock().now()

    async def work() -> notifications_service.DeliveryReport:
        # Sessions, not one: the run holds no transaction while it sends.
        engine = create_engine(settings)
        try:
            return await notifications_service.deliver_due(
                session_factory(engine), now=now, channels=channels, settings=settings
            )
        finally:
            await engine.dispose()

    report = asyncio.run(work())
    print(
        f"notifications: {report.sent} sent, {report.retrying} to try again, {report.failed} failed"
    )
    return 0


def cmd_rotate_message_key(settings: Settings, _args: argparse.Namespace) -> int:
    if settings.message_keys is not None:
        print(
            "message keys come from TEAMWELL_MESSAGE_KEYS: add the new key there on every "
            "instance, then name it in TEAMWELL_MESSAGE_KEY_CURRENT",
            file=sys.stderr,
        )
        return 1
    key_id = rotate_key(settings.data_dir)
    print(f"message key {key_id} is now current")
    return 0


def cmd_reencrypt_messages(settings: Settings, _args: argparse.Namespace) -> int:
    from app.documents.models import DocumentUpload, DocumentVersion
    from app.documents.sealing import data_key_aad
    from app.equality.models import EqualityProfile
    from app.equality.service import profile_aad
    from app.evaluation.models import EvaluationTrial
    from app.evaluation.service import seed_aad
    from app.messaging.models import Message, MessageRevision
    from app.supervision.check_ins import check_in_aad
    from app.supervision.models import SupervisionRecord, WellbeingCheckIn
    from app.supervision.records import notes_aad

    keyring = keyring_from_settings(settings)
    messages: Table = Message.__table__  # type: ignore[attr-defined]
    revisions: Table = MessageRevision.__table__  # type: ignore[attr-defined]
    # Everything else sealed with the same keyring, so an old key can be retired once this ran:
    # (what it is, table, key id column, ciphertext column, columns of its associated data, aad).
    others: list[tuple[str, Table, str, str, tuple[str, ...], Callable[..., bytes]]] = [
        (
            "check-in texts",
            WellbeingCheckIn.__table__,  # type: ignore[attr-defined]
            "text_key_id",
            "text_ciphertext",
            ("id", "user_id"),
            check_in_aad,
        ),
        (
            "supervision notes",
            SupervisionRecord.__table__,  # type: ignore[attr-defined]
            "notes_key_id",
            "notes_ciphertext",
            ("id",),
            notes_aad,
        ),
        (
            "trial seeds",
            EvaluationTrial.__table__,  # type: ignore[attr-defined]
            "seed_key_id",
            "seed_ciphertext",
            ("id",),
            seed_aad,
        ),
        (
            "equality answers",
            EqualityProfile.__table__,  # type: ignore[attr-defined]
            "answers_key_id",
            "answers_ciphertext",
            ("client_id",),
            profile_aad,
        ),
        # Documents' data keys (envelope encryption): re-wrapped, the objects never rewritten.
        (
            "document keys",
            DocumentVersion.__table__,  # type: ignore[attr-defined]
            "key_id",
            "wrapped_key",
            ("id",),
            data_key_aad,
        ),
        (
            "upload keys",
            DocumentUpload.__table__,  # type: ignore[attr-defined]
            "key_id",
            "wrapped_key",
            ("id",),
            data_key_aad,
        ),
    ]

    async def work(session: AsyncSession) -> list[int]:
        counts = [
            await reencrypt_messages(session, keyring, messages),
            await reencrypt_revisions(session, keyring, revisions, messages),
        ]
        for _label, table, key_column, blob_column, aad_columns, aad in others:
            counts.append(
                await reencrypt_column(
                    session,
                    keyring,
                    table,
                    key_column=key_column,
                    blob_column=blob_column,
                    aad_columns=aad_columns,
                    aad=aad,
                )
            )
        return counts

    count, earlier, *rest = asyncio.run(_in_session(settings, work))
    also = ", ".join(f"{n} {label}" for n, (label, *_) in zip(rest, others, strict=True))
    print(
        f"{count} messages and {earlier} earlier versions re-encrypted with key "
        f"{keyring.current_key_id}; also {also}"
    )
    return 0


# As docs/deploy.md runs the server: Teamwell's WebSocket protocol (uvicorn's, writing the frames
# of a fan-out straight to the socket: realtime/wire.py); no WebSocket compression (small JSON
# frames gain little, while each compressed socket keeps zlib state: about 64 KiB an idle
# connection instead of 23); and a grace period for open requests when stopped.
SERVER_OPTIONS: dict[str, Any] = {
    "ws": PROTOCOL_PATH,
    "ws_per_message_deflate": False,
    "timeout_graceful_shutdown": 20,
}
# The WebSocket options on uvicorn's command line (the test servers and the benchmark's).
SERVER_ARGS = ["--ws", PROTOCOL_PATH, "--ws-per-message-deflate", "false"]


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    # Behind a newer schema (a rolling upgrade's old processes restarting) it serves as it is.
    _upgrade_unless_ahead(settings)
    uvicorn.run(
        "app.main:app", host=args.host, port=args.port, proxy_headers=True, **SERVER_OPTIONS
    )
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    """Migrate, load the demo data once, print the logins and serve."""
    migrations.upgrade(settings.effective_database_url)
    logins = _demo_logins_file(settings)
    if logins.exists():
        print(logins.read_text(), end="")
    else:
        cmd_seed_demo(settings, argparse.Namespace(password=None))
    print(f"Teamwell is at http://{args.host}:{args.port}/")
    # The app reads its settings when uvicorn imports it, here in this process: the sign-in
    # page then lists the demo logins (GET /api/v1/meta).
    os.environ["TEAMWELL_DEMO_MODE"] = "true"
    # Readable log lines for the person watching the demo, unless they asked for JSON.
    os.environ.setdefault("TEAMWELL_LOG_FORMAT", "console")
    get_settings.cache_clear()  # read before this command ran, without demo mode
    import uvicorn

    uvicorn.run("app.main:app", host=args.host, port=args.port, **SERVER_OPTIONS)
    return 0


# The backup passphrase comes from here or from a file, never from the command line, where other
# users of the machine could read it (ps) and shells keep it in their history.
BACKUP_PASSPHRASE_ENV = "TEAMWELL_BACKUP_PASSPHRASE"  # noqa: S105 (a variable's name)


def _backup_passphrase(args: argparse.Namespace) -> str | None:
    if args.passphrase_file:
        passphrase = Path(args.passphrase_file).read_text().rstrip("\r\n")
    else:
        passphrase = os.environ.get(BACKUP_PASSPHRASE_ENV, "")
    return passphrase or None


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    """Back up the database, keys and data files into one archive (docs/operations.md)."""
    from app.backup import publickey
    from app.backup import service as backup_service

    passphrase = _backup_passphrase(args)
    # Recipients are public keys: the command line may name them.
    try:
        recipients = publickey.parse_recipients(args.recipient or [])
        for name in args.recipients_file or []:
            recipients += publickey.read_recipients_file(Path(name))
    except publickey.KeyFileError as error:
        print(f"backup refused: {error}", file=sys.stderr)
        return backup_service.KeyNeeded.exit_code
    chosen = [
        what
        for what, given in (
            ("a passphrase", passphrase is not None),
            ("recipients", bool(recipients)),
            ("--unencrypted", args.unencrypted),
        )
        if given
    ]
    if len(chosen) > 1:
        print(f"{' and '.join(chosen)} were given: choose one", file=sys.stderr)
        return backup_service.KeyNeeded.exit_code
    if args.recipients_file and not recipients:
        print("no recipient in the recipients file", file=sys.stderr)
        return backup_service.KeyNeeded.exit_code
    if not chosen:
        print(
            "give --recipient age1… (or --recipients-file), or the passphrase in "
            f"{BACKUP_PASSPHRASE_ENV} or --passphrase-file (the backup holds the keys to the "
            "messages), or say --unencrypted",
            file=sys.stderr,
        )
        return backup_service.KeyNeeded.exit_code
    try:
        outcome = backup_service.backup(
            settings,
            Path(args.out),
            passphrase=passphrase,
            now=SystemClock().now(),
            recipients=recipients,
        )
    except backup_service.BackupError as error:
        print(f"backup failed: {error}", file=sys.stderr)
        return error.exit_code
    manifest = outcome.manifest
    sealing = {
        "age": f" (encrypted to {len(recipients)} recipient{'s' if len(recipients) > 1 else ''})",
        "passphrase": " (encrypted with the passphrase)",
        "none": " (NOT encrypted)",
    }[manifest["encryption"]]
    print(
        f"backup of the {manifest['engine']} database at migration {manifest['migration']} and "
        f"{len(manifest['members']) - 1} files written to {outcome.path}{sealing}"
    )
    if manifest["message_keys_from_environment"]:
        print("the message keys come from TEAMWELL_MESSAGE_KEYS: keep them safe apart from it")
    asyncio.run(_in_session(settings, lambda session: _record_backup(session, manifest)))
    return 0


async def _record_backup(session: AsyncSession, manifest: dict[str, Any]) -> None:
    """Recorded after the archive is written, in the trail of the database it holds, so the
    admins' System page can say when the last backup was taken and how it was sealed (the
    archive's name and place stay with the operator: they are not the service's to show)."""
    from app.backup.service import BACKUP_TAKEN

    await audit_service.record(
        session,
        _system_context(),
        action=BACKUP_TAKEN,
        resource_type="backup",
        detail=str(manifest["encryption"]),
    )


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    """Restore a backup into an empty database and data directory (the service stopped)."""
    from app.backup import publickey
    from app.backup import service as backup_service

    try:
        identities = publickey.read_identities([Path(name) for name in args.identity or []])
    except publickey.KeyFileError as error:
        print(f"restore refused: {error}", file=sys.stderr)
        return backup_service.KeyNeeded.exit_code
    try:
        outcome = backup_service.restore(
            settings,
            Path(args.archive),
            passphrase=_backup_passphrase(args),
            force=args.force,
            identities=identities,
        )
    except backup_service.BackupError as error:
        hint = ""
        if isinstance(error, backup_service.KeyNeeded):
            hint = f" ({BACKUP_PASSPHRASE_ENV} or --passphrase-file; --identity FILE)"
        print(f"restore refused: {error}{hint}", file=sys.stderr)
        return error.exit_code
    manifest = outcome.manifest
    print(
        f"restored the backup of {manifest['created_at']} (migration {manifest['migration']}); "
        "run `teamwell migrate`, then `teamwell verify-audit`, before serving"
    )
    return 0


def cmd_backup_keygen(settings: Settings, args: argparse.Namespace) -> int:
    """Make an identity (private key) for backups; print its recipient (public key). The
    identity is kept away from the hosts that take backups (docs/operations.md)."""
    from app.backup import publickey

    try:
        recipient = publickey.generate_identity(Path(args.out), SystemClock().now())
    except (publickey.KeyFileError, OSError) as error:
        print(f"backup-keygen failed: {error}", file=sys.stderr)
        return 1
    print(f"identity written to {args.out} (keep it off the hosts that take backups)")
    print(f"recipient (public key, for teamwell backup --recipient): {recipient}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="teamwell", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    migrate = sub.add_parser("migrate", help="upgrade the database to the latest migration")
    migrate.add_argument(
        "--check",
        action="store_true",
        help=f"change nothing; report the database's and the code's migrations and exit "
        f"{CHECK_UP_TO_DATE} up to date, {CHECK_PENDING} migrations pending, {CHECK_AHEAD} the "
        f"database ahead of this code, {CHECK_UNREACHABLE} the database unreadable",
    )
    admin = sub.add_parser("create-admin", help="create an admin account")
    admin.add_argument("--email", required=True)
    admin.add_argument("--name", required=True)
    admin.add_argument("--organisation", required=True, help="organisation slug")
    admin.add_argument("--organisation-name")
    admin.add_argument("--kind", default="nhs_trust", choices=[k.value for k in OrganisationKind])
    seed = sub.add_parser("seed-demo", help="load demo organisations, team, staff and clients")
    seed.add_argument("--password", help="password for every demo login (default: generated)")
    verify_audit = sub.add_parser(
        "verify-audit", help="check the audit trail's hash chain against its signed checkpoints"
    )
    verify_audit.add_argument(
        "--checkpoints",
        action="append",
        metavar="FILE",
        help="another checkpoint file to check against (another host's, or an archived one); "
        "TEAMWELL_AUDIT_CHECKPOINT_PATH is always checked",
    )
    verify_trial = sub.add_parser(
        "verify-trial", help="recompute an evaluation trial's allocations from its seed"
    )
    verify_trial.add_argument("trial_id", help="the trial's id")
    extract = sub.add_parser(
        "evaluation-extract", help="write a trial's pseudonymised evaluators' extract as CSV"
    )
    extract.add_argument("trial_id")
    extract.add_argument(
        "--key-file", help="the pseudonymisation key (default: a fresh one, thrown away)"
    )
    extract.add_argument("--out", help="the file to write (default: standard output)")
    retention = sub.add_parser("retention", help="remove what has outlived its retention")
    retention.add_argument(
        "--dry-run", action="store_true", help="count what would go and change nothing"
    )
    run_jobs_parser = sub.add_parser("run-jobs", help="run scheduled jobs in this process")
    run_jobs_parser.add_argument("--once", action="store_true", help="one round, then stop")
    sub.add_parser("deliver-notifications", help="send the notifications that are due, once")
    sub.add_parser("rotate-message-key", help="add a message key and make it current")
    sub.add_parser(
        "reencrypt-messages",
        help="re-encrypt message bodies, check-in texts, supervision notes and trial seeds "
        "not under the current key",
    )
    backup = sub.add_parser(
        "backup", help="back up the database, keys and data files into one archive"
    )
    backup.add_argument("out", help="the archive to write")
    backup.add_argument("--passphrase-file", metavar="FILE", help=f"else {BACKUP_PASSPHRASE_ENV}")
    backup.add_argument("--unencrypted", action="store_true", help="write it without encryption")
    backup.add_argument(
        "--recipient",
        action="append",
        metavar="AGE1…",
        help="encrypt to this age public key (repeatable); only its identity opens the backup",
    )
    backup.add_argument(
        "--recipients-file",
        action="append",
        metavar="FILE",
        help="encrypt to the age public keys in FILE, one a line (repeatable)",
    )
    restore = sub.add_parser("restore", help="restore a backup into an empty instance")
    restore.add_argument("archive", help="the archive to restore")
    restore.add_argument("--passphrase-file", metavar="FILE", help=f"else {BACKUP_PASSPHRASE_ENV}")
    restore.add_argument(
        "--force", action="store_true", help="overwrite a database or files that hold data"
    )
    restore.add_argument(
        "--identity",
        action="append",
        metavar="FILE",
        help="an age identity file that opens a backup made with --recipient (repeatable)",
    )
    keygen = sub.add_parser(
        "backup-keygen", help="make an identity for backups and print its public key"
    )
    keygen.add_argument("out", help="the identity file to write (0600; never overwritten)")
    for name in ("serve", "demo"):
        serve = sub.add_parser(
            name,
            help="run the service"
            if name == "serve"
            else "migrate, load demo data once, and run the service",
        )
        serve.add_argument("--host", default="127.0.0.1")
        serve.add_argument("--port", type=int, default=8000)
    return parser


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "migrate": cmd_migrate,
    "create-admin": cmd_create_admin,
    "seed-demo": cmd_seed_demo,
    "verify-audit": cmd_verify_audit,
    "verify-trial": cmd_verify_trial,
    "evaluation-extract": cmd_evaluation_extract,
    "retention": cmd_retention,
    "run-jobs": cmd_run_jobs,
    "deliver-notifications": cmd_deliver_notifications,
    "rotate-message-key": cmd_rotate_message_key,
    "reencrypt-messages": cmd_reencrypt_messages,
    "serve": cmd_serve,
    "demo": cmd_demo,
    "backup": cmd_backup,
    "restore": cmd_restore,
    "backup-keygen": cmd_backup_keygen,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command](get_settings(), args)


if __name__ == "__main__":
    sys.exit(main())
