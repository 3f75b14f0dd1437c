"""Settings: one object, read from the environment (prefix ``TEAMWELL_``).

Secrets that are not given are generated on first start and kept in a file under the data
directory with mode 0600, so that a restart keeps tokens and encrypted fields valid. They are
never constants in code and never logged.
"""

from __future__ import annotations

import json
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.benefits.rules import DEFAULT_RESTART_WINDOW_DAYS
from app.clients.eligibility import TRAILBLAZER_QUESTIONS, Question
from app.documents.models import DocumentKind
from app.supervision.rules import MIN_PEOPLE_FLOOR, SUPPRESSION_THRESHOLD
from realtime import presence

PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "password", "please-change", ""}
SECRET_NAMES = (
    "jwt_secret",
    "field_encryption_key",
    "session_secret",
    "turn_secret",
    "audit_checkpoint_key",
    "vapid_private_key",
    "document_token_secret",
)
ICE_URL_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")


def web_origin(url: str) -> str | None:
    """The origin of an http(s) URL as browsers send it in ``Origin`` (scheme://host[:port],
    lower case, without the scheme's default port), or None if it is no such URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in ("http", "https") or not host or parts.username or parts.password:
        return None
    if ":" in host:  # an IPv6 address is bracketed in an origin
        host = f"[{host}]"
    if port is None or port == {"http": 80, "https": 443}[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TEAMWELL_", env_file=None, extra="ignore")

    environment: str = "development"
    data_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    # Web pages, besides the public URL's own, whose scripts may open `/ws` (a JSON list of
    # origins, "https://teamwell.example.org"): a browser names the page's origin on every
    # WebSocket it opens, and a socket opened from any other site is refused.
    allowed_origins: list[str] = []

    # Secrets: given in the environment, or generated into <data_dir>/secrets.json.
    jwt_secret: SecretStr | None = None
    field_encryption_key: SecretStr | None = None
    session_secret: SecretStr | None = None
    # Message-body encryption keys: a JSON object {"k1": "<base64 of 32 bytes>", ...} and the id
    # of the one new bodies are sealed with. Unset: keys live in <data_dir>/message-keys.json.
    message_keys: SecretStr | None = None
    message_key_current: str | None = None

    # Tokens and sessions.
    access_token_minutes: int = Field(default=15, ge=1, le=60)
    refresh_token_days: int = Field(default=14, ge=1, le=90)
    # A signed-in session that has not refreshed its tokens for this long must sign in again.
    session_idle_minutes: int = Field(default=60, ge=5, le=24 * 60)
    mfa_token_minutes: int = Field(default=5, ge=1, le=15)
    # A used refresh token presented again within this many seconds, while its successor is
    # unused, is two tabs refreshing at once: answered with that successor, not a revocation.
    # 0 turns the grace off (every reuse revokes the session).
    refresh_reuse_grace_seconds: float = Field(default=10.0, ge=0, le=60)
    sso_code_seconds: int = Field(default=60, ge=10, le=600)
    invitation_days: int = Field(default=7, ge=1, le=30)
    measure_link_hours: int = 72
    # Guest links into a client session (app/meetings/guests.py, docs/meetings.md): a link opens
    # this many minutes before the session starts and closes this many after it ends; after
    # `guest_link_max_attempts` wrong names or codes it stops working; the credential a guest is
    # given lasts `guest_credential_minutes`, and never past the window's close.
    guest_link_open_minutes_before: int = Field(default=30, ge=0, le=1440)
    guest_link_close_minutes_after: int = Field(default=30, ge=0, le=1440)
    guest_link_max_attempts: int = Field(default=5, ge=1, le=20)
    guest_credential_minutes: int = Field(default=120, ge=5, le=720)
    # Guest and questionnaire links sent by text message (app/notifications/link_texts.py): at
    # most this many to one client in any 24 hours.
    link_sms_per_client_per_day: int = Field(default=5, ge=1, le=100)
    # The home page (GET /api/v1/me/today) lists the meetings starting within this many hours
    # (and those under way): "today" without knowing the reader's time zone.
    home_meetings_hours: int = Field(default=24, ge=1, le=168)

    # Sign-in throttling (auth/throttle.py, docs/security.md). After `login_max_failures` failures
    # in a row for one email from one address, that email is refused from that address for
    # `login_lockout_seconds`, doubling on each further failure up to `login_lockout_max_seconds`
    # (other addresses, the person's own among them, are not held up); codes at the second
    # factor are counted the same way, apart. `login_address_max_failures` failures from one
    # address, whatever the emails, within `login_address_window_seconds` of the first refuse
    # every sign-in from that address until the window ends.
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_seconds: int = Field(default=60, ge=1)
    login_lockout_max_seconds: int = Field(default=3600, ge=1)
    login_address_max_failures: int = Field(default=50, ge=1)
    login_address_window_seconds: int = Field(default=900, ge=1)

    # Set by ``teamwell demo``: the sign-in page lists the demo logins (GET /api/v1/meta).
    # Never in production: it tells anyone who opens the page which accounts exist.
    demo_mode: bool = False

    mfa_required_for_staff: bool = True
    mfa_issuer: str = "Teamwell"
    recovery_code_count: int = Field(default=10, ge=4, le=20)

    # Retention (`teamwell retention`; app/retention/rules.py says what each covers). Ended
    # sign-in sessions and expired refresh tokens, and one-time links once they stopped working,
    # go after these many days. Messages and closed client records are kept unless a period is
    # set: that is each organisation's decision (e.g. the NHS Records Management Code of Practice
    # keeps mental-health records 20 years after the last contact).
    retention_auth_days: int = Field(default=30, ge=0, le=3650)
    retention_link_days: int = Field(default=30, ge=0, le=3650)
    # Guest links into client sessions, once used, withdrawn or past their window; the guests'
    # attendance stays (app/retention/rules.py).
    retention_guest_link_days: int = Field(default=30, ge=0, le=3650)
    retention_message_days: int | None = Field(default=None, ge=1)
    retention_closed_client_years: int | None = Field(default=None, ge=1, le=100)

    # Limits.
    max_request_bytes: int = Field(default=1_000_000, ge=1024)
    page_size_default: int = Field(default=50, ge=1)
    page_size_max: int = Field(default=200, ge=1)

    # IPS caseloads per employment specialist: assigning beyond `caseload_limit` (trailblazer: 30)
    # needs a supervisor's override; above `caseload_warn_above` (IPS-25 best practice: 20) warns.
    caseload_limit: int = Field(default=30, ge=1)
    caseload_warn_above: int = Field(default=20, ge=0)

    # Job quality (docs/reports.md). A job's hourly pay meets the wage threshold when it is at
    # least `wage_threshold_pence` (default: the Real Living Wage outside London, £13.45 an hour
    # for 2025-26); the threshold in force is kept with each job when it is recorded.
    # Sustainment figures count only competitive jobs unless `sustainment_competitive_only` is
    # false (IPS counts competitive employment as its outcome).
    wage_threshold_pence: int = Field(default=1345, ge=1)
    wage_threshold_name: str = Field(default="Real Living Wage", min_length=1, max_length=100)
    sustainment_competitive_only: bool = True

    # Evaluation trials: the largest permuted block a supervisor may choose. Larger blocks drift
    # further from balance within a stratum (up to half a block) and cost more to compute.
    evaluation_max_block_size: int = Field(default=12, ge=2)

    # Staff wellbeing and supervision (docs/supervision.md). The cadences are the defaults a
    # supervisor may change per supervisee. A team's wellbeing figure is shown only when at least
    # `team_wellbeing_min_people` answered; 3 is the floor (with two, each could work out the
    # other's answers), so a lower value is refused.
    wellbeing_text_max_chars: int = Field(default=2000, ge=1)
    check_in_cadence_days: int = Field(default=7, ge=1, le=365)
    supervision_cadence_days: int = Field(default=28, ge=1, le=365)
    supervision_notes_max_chars: int = Field(default=20_000, ge=1)
    team_wellbeing_min_people: int = Field(default=MIN_PEOPLE_FLOOR, ge=MIN_PEOPLE_FLOOR)
    team_view_default_weeks: int = Field(default=12, ge=1)
    team_view_max_weeks: int = Field(default=52, ge=1)

    # Eligibility at referral (docs/api.md): the programme's questions, as data (a JSON list
    # in TEAMWELL_ELIGIBILITY_QUESTIONS); the defaults are the trailblazer's.
    eligibility_questions: tuple[Question, ...] = Field(
        default=TRAILBLAZER_QUESTIONS, min_length=1, max_length=20
    )

    # Benefits and off-flow (docs/reports.md). Out-of-work claims that restart within
    # `benefit_restart_window_days` days of an end are one spell: the end was not an off-flow,
    # and an off-flow is confirmed only once that many days have passed without a new claim.
    benefit_restart_window_days: int = Field(default=DEFAULT_RESTART_WINDOW_DAYS, ge=0, le=366)

    # Programme reports (docs/reports.md). A count from 1 to one below
    # `report_suppression_threshold` is withheld; 3 is the floor (a lower value is refused).
    # One report covers at most `report_max_period_days` days.
    report_suppression_threshold: int = Field(
        default=SUPPRESSION_THRESHOLD, ge=SUPPRESSION_THRESHOLD
    )
    report_max_period_days: int = Field(default=1096, ge=1)
    # IPS-25 fidelity pre-fill (docs/reports.md): employer contacts are counted over the
    # `fidelity_contact_weeks` weeks that end on the review date, and rapid job search looks at
    # the clients who joined in the `fidelity_rapid_search_days` days that end on it.
    fidelity_contact_weeks: int = Field(default=4, ge=1, le=52)
    fidelity_rapid_search_days: int = Field(default=365, ge=31, le=3660)

    # Realtime (the /ws gateway). Each limit is enforced and tested at its edge.
    ws_max_frame_bytes: int = Field(default=65_536, ge=1024)
    message_max_chars: int = Field(default=4000, ge=1)
    messages_per_second: float = Field(default=5.0, gt=0)
    message_burst: int = Field(default=10, ge=1)
    typing_per_second: float = Field(default=2.0, gt=0)
    ws_connections_per_user: int = Field(default=5, ge=1)
    conversations_page_max: int = Field(default=100, ge=1)
    sync_page_max: int = Field(default=200, ge=1)
    ws_auth_timeout_seconds: float = Field(default=10.0, gt=0)
    ws_auth_grace_seconds: float = Field(default=30.0, gt=0)
    ws_heartbeat_timeout_seconds: float = Field(default=60.0, gt=0)
    ws_outbound_queue: int = Field(default=1000, ge=10)
    # message.send frames of one socket being stored at once: the socket's next frames are read
    # while earlier messages wait for their commit, up to this many (then reading waits).
    ws_sends_in_flight: int = Field(default=32, ge=1)
    # After this many refused frames in a row the connection is closed (4400).
    ws_max_consecutive_errors: int = Field(default=20, ge=1)
    # Presence timings (realtime/presence.py), the same for every process sharing Redis: clients
    # ping every `presence_heartbeat_seconds`; a device silent for `presence_dead_after_seconds`
    # is gone (also the devices of a process that died), and one without activity for
    # `presence_idle_after_seconds` is away. Dead-after must exceed the heartbeat interval.
    presence_heartbeat_seconds: float = Field(default=presence.HEARTBEAT_INTERVAL, gt=0)
    presence_dead_after_seconds: float = Field(default=presence.DEAD_AFTER, gt=0)
    presence_idle_after_seconds: float = Field(default=presence.IDLE_AFTER, gt=0)

    # Meetings (WebRTC mesh calls signalled over /ws).
    meeting_max_participants: int = Field(default=8, ge=2)
    meeting_rejoin_grace_seconds: float = Field(default=30.0, gt=0)
    signals_per_second: float = Field(default=50.0, gt=0)
    signal_burst: int = Field(default=200, ge=1)
    sdp_max_bytes: int = Field(default=32_768, ge=1024)
    ice_candidate_max_chars: int = Field(default=1024, ge=64)
    lobby_message_max_chars: int = Field(default=280, ge=1)

    # Email: "log" writes messages to the log (development); "smtp" sends them.
    email_backend: str = "log"
    email_from: str = "Teamwell <no-reply@teamwell.invalid>"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False

    # Meetings, ICE servers handed to the browsers: "stun:turn.example.org:3478",
    # "turn:turn.example.org:3478?transport=udp". TURN credentials follow coturn's TURN REST scheme
    # (`use-auth-secret`): `turn_secret` must equal coturn's `static-auth-secret`; unset, it is
    # generated into <data_dir>/secrets.json, from where it must be copied to coturn. Each
    # credential is valid for `turn_credential_seconds` from when it is handed out.
    stun_urls: list[str] = []
    turn_urls: list[str] = []
    turn_secret: SecretStr | None = None
    turn_credential_seconds: int = Field(default=3600, ge=60, le=24 * 3600)

    # Audit checkpoints (docs/security.md): every `audit_checkpoint_seconds`, while events are
    # being written, each server process appends the chain's length and newest hash, signed with
    # Ed25519 under `audit_checkpoint_key` (a key of its own; unset, generated into
    # <data_dir>/secrets.json), to `audit_checkpoint_path` (unset: <data_dir>/audit-checkpoints).
    # `teamwell verify-audit` then finds the newest events removed. The events of the last
    # interval are not covered yet, so a shorter interval closes that window at the cost of a
    # longer file (one line of about 250 bytes per interval in which events were written).
    audit_checkpoint_key: SecretStr | None = None
    audit_checkpoint_path: Path | None = None
    audit_checkpoint_seconds: float = Field(default=10.0, ge=0.01, le=3600)

    # Logs (docs/operations.md "Logs"): "json", one object a line for a log collector (the
    # default), or "console", readable lines for a person (what `teamwell demo` sets). A request's
    # X-Request-ID is kept when well formed and at most `request_id_max_chars` long, else replaced.
    log_format: Literal["json", "console"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    request_id_max_chars: int = Field(default=128, ge=16, le=1024)

    # Scheduled work (app/jobs, docs/architecture.md "Scheduled work"). Every process that runs
    # jobs (each server while `jobs_in_service`, or `teamwell run-jobs`) looks for due jobs every
    # `jobs_poll_seconds`, claims up to `jobs_batch_size` of them for `jobs_lease_seconds` (a
    # process that dies leaves them to another once the lease is over), and retries a failed job
    # after `jobs_retry_base_seconds`, doubling each time up to `jobs_retry_max_seconds`, until
    # it has had `jobs_max_attempts` attempts; then it is failed and waits for an admin's retry.
    # Finished jobs are kept `jobs_keep_finished_days` (longer than any recurring period, so a
    # slot's key is still there when a late process starts). The recurring jobs: the IPS journey
    # alerts every `jobs_journey_alerts_minutes` (unset: only when the journey page is opened),
    # retention every `jobs_retention_minutes` (unset: only `teamwell retention`, from an
    # outside scheduler).
    jobs_in_service: bool = True
    jobs_poll_seconds: float = Field(default=5.0, ge=0.01, le=3600)
    jobs_batch_size: int = Field(default=20, ge=1, le=1000)
    jobs_lease_seconds: float = Field(default=300.0, ge=1, le=24 * 3600)
    jobs_max_attempts: int = Field(default=5, ge=1, le=100)
    jobs_retry_base_seconds: float = Field(default=30.0, ge=0, le=24 * 3600)
    jobs_retry_max_seconds: float = Field(default=3600.0, ge=0, le=7 * 24 * 3600)
    jobs_keep_finished_days: int = Field(default=7, ge=2, le=3650)
    jobs_journey_alerts_minutes: int | None = Field(default=60, ge=1, le=24 * 60)
    jobs_retention_minutes: int | None = Field(default=24 * 60, ge=1, le=24 * 60)
    # Wellbeing check-in prompts: how often to look for people whose check-in has fallen due
    # (each is prompted once per gap between check-ins; unset: the prompt shows only on pages).
    jobs_check_in_prompts_minutes: int | None = Field(default=60, ge=1, le=24 * 60)
    # Notifications go out (with their retries) from a recurring job every
    # `jobs_deliver_notifications_seconds` (unset: only `teamwell deliver-notifications`).
    jobs_deliver_notifications_seconds: int | None = Field(default=15, ge=1, le=3600)

    # Prometheus metrics at /metrics (docs/operations.md "Metrics"), for a scraper sending
    # `Authorization: Bearer <metrics_token>`; unset, the endpoint is off (404). At least 32
    # characters, like the other secrets.
    metrics_token: SecretStr | None = None

    @field_validator("eligibility_questions")
    @classmethod
    def one_answer_per_key(cls, value: tuple[Question, ...]) -> tuple[Question, ...]:
        """Answers are stored by question key, so two questions may not share one."""
        keys = [q.key for q in value]
        if len(set(keys)) != len(keys):
            raise ValueError("eligibility question keys must differ")
        return value

    @field_validator(
        "jobs_journey_alerts_minutes",
        "jobs_retention_minutes",
        "jobs_check_in_prompts_minutes",
        "jobs_deliver_notifications_seconds",
        mode="before",
    )
    @classmethod
    def empty_is_never(cls, value: object) -> object:
        """An empty setting turns a recurring job off (``TEAMWELL_JOBS_RETENTION_MINUTES=``)."""
        return None if isinstance(value, str) and not value.strip() else value

    # Notifications (docs/notifications.md). Each channel's sender is "log" by default, so
    # nothing leaves the machine until one is configured. Web Push: "webpush" signs with the VAPID
    # key `vapid_private_key` (the P-256 private number, 32 bytes base64url; unset, generated into
    # <data_dir>/secrets.json) and names `vapid_subject` to the push services. SMS: "notify" sends
    # through GOV.UK Notify with `notify_api_key` and the template `notify_sms_template_id`;
    # "off" offers no SMS at all. A failed delivery is tried again after
    # `notification_retry_base_seconds`, doubling up to `notification_retry_max_seconds`, at most
    # `notification_max_attempts` times; `deliver_due` sends at most `notification_batch_size` a
    # run. People's quiet hours are in their own time zone, `notification_default_time_zone`
    # until they choose one.
    push_backend: str = "log"
    vapid_private_key: SecretStr | None = None
    vapid_subject: str = "mailto:no-reply@teamwell.invalid"
    push_ttl_seconds: int = Field(default=86_400, ge=0, le=2_419_200)
    push_subscriptions_per_person: int = Field(default=10, ge=1, le=100)
    # Push services are reached over https only; "false" lets a test's endpoint on loopback in.
    push_endpoint_https_only: bool = True
    sms_backend: str = "log"
    notify_api_key: SecretStr | None = None
    notify_sms_template_id: str | None = None
    notify_base_url: str = "https://api.notifications.service.gov.uk"
    notification_send_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    notification_retry_base_seconds: float = Field(default=60.0, gt=0)
    notification_retry_max_seconds: float = Field(default=3600.0, gt=0)
    notification_max_attempts: int = Field(default=6, ge=1, le=50)
    notification_batch_size: int = Field(default=100, ge=1, le=10_000)
    notification_default_time_zone: str = "Europe/London"
    # A delivery run claims its batch for `notification_claim_seconds` and sends outside any
    # transaction, at most `notification_send_concurrency` at once; a run that dies leaves its
    # claims to expire, and the next run after them sends those again (at least once).
    notification_claim_seconds: float = Field(default=300.0, ge=1, le=24 * 3600)
    notification_send_concurrency: int = Field(default=10, ge=1, le=100)
    # What happens on its own (docs/notifications.md, "What notifies whom"). An urgent alert
    # nobody has acknowledged after `urgent_alert_escalation_minutes` goes to the supervisors of
    # those it reached. Messages unread for `message_notice_delay_minutes` bring one notice per
    # person per `message_digest_window_minutes`.
    urgent_alert_escalation_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)
    message_notice_delay_minutes: int = Field(default=15, ge=1, le=24 * 60)
    message_digest_window_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    # Backups (docs/operations.md): the folder holding PostgreSQL's pg_dump and pg_restore, of the
    # server's major version or newer; unset, they are looked up on PATH.
    pg_bin: Path | None = None

    # Documents (docs/documents.md). The sealed objects go to a folder (`local`, under
    # `document_dir`, default <data_dir>/documents) or to an S3-compatible store (`s3`). Limits:
    # one file's size, what one person may upload in any 24 hours, the size of an upload's
    # chunks (the one request body allowed past `max_request_bytes`), how long a download link
    # works, and for zip-based types (OOXML, OpenDocument) the expansion refused as a bomb. An
    # upload not completed within `document_upload_hours` is abandoned.
    # `document_retention_days`: a JSON object of days per kind ({"cv": 730, "attachment":
    # 365}); a kind not named is kept. Download links are signed with `document_token_secret`
    # (unset: generated into <data_dir>/secrets.json).
    document_store: Literal["local", "s3"] = "local"
    document_dir: Path | None = None
    document_max_bytes: int = Field(default=20_000_000, ge=1)
    document_daily_bytes_per_person: int = Field(default=200_000_000, ge=1)
    # Each chunk is a request, a store round trip and a row update, and is kept as one sealed
    # segment of the stored file (a download reads it whole): 8 MiB makes a 1 MB file one
    # request and a 20 MB file three, while a phone whose link drops resends at most 8 MiB.
    # At most 64 MiB: the service holds a chunk in memory while it is sealed.
    document_chunk_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    document_download_token_seconds: int = Field(default=300, ge=10, le=3600)
    document_max_expansion_ratio: int = Field(default=100, ge=1)
    document_max_expanded_bytes: int = Field(default=200_000_000, ge=1)
    document_upload_hours: int = Field(default=24, ge=1, le=24 * 7)
    document_retention_days: dict[str, int] = {}
    document_token_secret: SecretStr | None = None

    # Documents in an S3-compatible store (docs/deploy.md), when `document_store` is `s3`: the
    # endpoint (empty: AWS itself, found from the region), the bucket (made at start when
    # missing) and the access key the service signs its requests with.
    s3_endpoint_url: str = ""
    s3_bucket: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: SecretStr | None = None
    # Malware scanning with ClamAV's clamd over TCP (docs/deploy.md). No host: scanning is not
    # configured and new documents stay "not scanned". A scan not answered within the timeout
    # is "unavailable" (the document waits, never shown as clean).
    clamd_host: str = ""
    clamd_port: int = Field(default=3310, ge=1, le=65535)
    clamd_timeout_seconds: float = Field(default=60.0, gt=0, le=600)

    # The admins' System page (app/system, docs/operations.md "System page"): an identifier of
    # this build, shown beside the package version (set by the image build; unset: none);
    # Redis is given `system_probe_timeout_seconds` to answer before it is shown down; a message
    # or document key, or the TURN secret, older than `key_rotation_warn_days` is a warning, as
    # are due jobs waiting longer than `system_job_overdue_minutes` and an audit chain not
    # verified within `audit_verify_warn_days`.
    build_id: str | None = Field(default=None, max_length=64)
    system_probe_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    key_rotation_warn_days: int = Field(default=365, ge=1, le=3650)
    system_job_overdue_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)
    audit_verify_warn_days: int = Field(default=7, ge=1, le=365)
    # A day's backup plus a couple of hours' slack: a nightly `teamwell backup` that missed a
    # night shows as a warning the next morning.
    backup_warn_hours: int = Field(default=26, ge=1, le=24 * 90)

    @field_validator(
        "jwt_secret",
        "field_encryption_key",
        "session_secret",
        "smtp_password",
        "turn_secret",
        "audit_checkpoint_key",
        "vapid_private_key",
        "notify_api_key",
        "document_token_secret",
        "metrics_token",
    )
    @classmethod
    def refuse_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("a placeholder secret was given; set a real one or leave it unset")
        return value

    @field_validator(
        "jwt_secret",
        "field_encryption_key",
        "session_secret",
        "turn_secret",
        "audit_checkpoint_key",
        "document_token_secret",
        "metrics_token",
    )
    @classmethod
    def long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("signing and encryption secrets must be at least 32 characters")
        return value

    @field_validator("stun_urls", "turn_urls")
    @classmethod
    def ice_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(ICE_URL_SCHEMES):
                raise ValueError(f"{url!r} is not a stun:, stuns:, turn: or turns: URL")
        return value

    @field_validator("allowed_origins")
    @classmethod
    def origins(cls, value: list[str]) -> list[str]:
        normal = []
        for origin in value:
            named = web_origin(origin)
            parts = urlsplit(origin.strip())
            if named is None or parts.path not in ("", "/") or parts.query or parts.fragment:
                raise ValueError(
                    f"{origin!r} is not an origin (scheme://host[:port], no path), "
                    "such as https://teamwell.example.org"
                )
            normal.append(named)
        return normal

    @property
    def websocket_origins(self) -> frozenset[str]:
        """The pages whose scripts may open `/ws`: the public URL's and the allowed ones."""
        own = web_origin(self.public_url)
        return frozenset([*([own] if own else []), *self.allowed_origins])

    @model_validator(mode="after")
    def presence_timings_work(self) -> Settings:
        self.presence_timings  # noqa: B018 - raises ValueError for timings that cannot work
        return self

    @model_validator(mode="after")
    def document_limits_work(self) -> Settings:
        kinds = {kind.value for kind in DocumentKind}
        for kind, days in self.document_retention_days.items():
            if kind not in kinds:
                raise ValueError(f"document_retention_days: {kind!r} is not a document kind")
            if days < 1:
                raise ValueError("document_retention_days: a kind is kept at least a day")
        return self

    @model_validator(mode="after")
    def s3_settings_complete(self) -> Settings:
        # Checked at start, so a deployment on S3 with a setting missing does not start rather
        # than fail at the first upload.
        if self.s3_endpoint_url and urlsplit(self.s3_endpoint_url).scheme not in ("http", "https"):
            raise ValueError("s3_endpoint_url must be an http:// or https:// URL")
        if self.document_store != "s3":
            return self
        secret = self.s3_secret_access_key
        missing = [
            f"TEAMWELL_{name.upper()}"
            for name, value in (
                ("s3_bucket", self.s3_bucket),
                ("s3_access_key_id", self.s3_access_key_id),
                ("s3_secret_access_key", secret.get_secret_value() if secret else ""),
            )
            if not value.strip()
        ]
        if missing:
            raise ValueError(f"TEAMWELL_DOCUMENT_STORE=s3 needs {', '.join(missing)}")
        if secret is not None and secret.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("s3_secret_access_key is a placeholder; set the real one")
        return self

    @property
    def presence_timings(self) -> presence.PresenceTimings:
        return presence.PresenceTimings(
            heartbeat_interval=self.presence_heartbeat_seconds,
            dead_after=self.presence_dead_after_seconds,
            idle_after=self.presence_idle_after_seconds,
        )

    @property
    def effective_database_url(self) -> str:
        url = self.database_url or f"sqlite:///{(self.data_dir / 'teamwell.db').as_posix()}"
        return async_database_url(url)

    @property
    def audit_checkpoint_file(self) -> Path:
        return self.audit_checkpoint_path or self.data_dir / "audit-checkpoints"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    def secret(self, name: str) -> str:
        """A secret by name: the configured one, or the one generated into the secrets file."""
        given: SecretStr | None = getattr(self, name)
        if given is not None:
            return given.get_secret_value()
        return load_or_create_secrets(self.data_dir)[name]


def async_database_url(url: str) -> str:
    """Map plain URLs to the async drivers the service uses."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("postgresql+psycopg://"):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.split(":///", 1)[1]
    return url


def _random_secret() -> str:
    return secrets.token_urlsafe(48)


def _vapid_key() -> str:
    # A VAPID key is a P-256 private key, not random text (app/notifications/channels.py).
    from app.notifications.channels import new_vapid_private_key

    return new_vapid_private_key()


_GENERATED = {"vapid_private_key": _vapid_key}


def load_or_create_secrets(data_dir: Path) -> dict[str, str]:
    path = data_dir / "secrets.json"
    data_dir.mkdir(parents=True, exist_ok=True)
    existing: dict[str, str] = {}
    if path.exists():
        existing = json.loads(path.read_text())
    missing = [name for name in SECRET_NAMES if name not in existing]
    if missing:
        for name in missing:
            existing[name] = _GENERATED.get(name, _random_secret)()
        # Create with 0600 from the start so the secrets are never briefly world-readable.
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(existing, handle)
        os.replace(tmp, path)
    os.chmod(path, 0o600)
    return existing


@lru_cache
def get_settings() -> Settings:
    return Settings()
