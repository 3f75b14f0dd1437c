"""The randomised evaluation, end to end on a real server: trials, allocation on consent,
concealment, balance, reproducibility from the recorded seed, and who may do what.

Trials are organisation-wide and one is open at a time, so these tests run on servers of their
own (SQLite and PostgreSQL) rather than on the shared ones: a trial left open there would take in
other tests' new clients.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from app.evaluation.randomisation import Arm, allocation_sequence
from app.evaluation.schemas import MAX_BLOCK_SIZE_CHOICES
from app.evaluation.service import seed_aad
from app.messaging.keyring import KEY_FILE_NAME, MessageKeyring
from tests.conftest import (
    Live,
    Session,
    demo_team_id,
    live_server,
    problem,
    teamwell_cli,
)
from tests.support import builders
from tests.support.builders import DEMO_TEAM, client_id_of

TRIALS = "/api/v1/evaluation/trials"
ARMS = {arm.value for arm in Arm}
DEFAULT_MAX_BLOCK_SIZE = 12  # TEAMWELL_EVALUATION_MAX_BLOCK_SIZE's default


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def own(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_server(tmp_path_factory, f"evaluation-{request.param}", request=request) as running:
        yield running


# --- builders -----------------------------------------------------------------------------------


class World:
    """The demo trust on a server of its own, and small builders for trials and clients."""

    def __init__(self, live: Live) -> None:
        self.live = live
        self.supervisor = live.as_role("supervisor")
        self.keyworker = live.as_role("peer_keyworker")
        self.team_id = demo_team_id(self.keyworker)
        self.organisation_id = self.supervisor.user["organisation_id"]
        self.replies: list[httpx.Response] = []  # every answer seen, to search for the seed

    def seen(self, reply: httpx.Response) -> httpx.Response:
        self.replies.append(reply)
        return reply

    def open_trial(self, **body: Any) -> dict[str, Any]:
        body.setdefault("name", f"IPS evaluation {uuid.uuid4().hex[:6]}")
        body.setdefault("stratify_by", "referral_source")
        reply = self.seen(self.supervisor.post(TRIALS, json=body))
        assert reply.status_code == 201, reply.text
        trial: dict[str, Any] = reply.json()
        return trial

    def close_trial(self, trial_id: str) -> dict[str, Any]:
        reply = self.seen(self.supervisor.post(f"{TRIALS}/{trial_id}/close"))
        assert reply.status_code == 200, reply.text
        closed: dict[str, Any] = reply.json()
        return closed

    def close_open_trials(self) -> None:
        for trial in self.supervisor.get(TRIALS).json():
            if trial["open"]:
                self.close_trial(trial["id"])

    def new_client(self, source: str = "jobcentre", team_id: str | None = None) -> str:
        return builders.new_client(
            self.keyworker,
            f"Entrant {uuid.uuid4().hex[:6]}",
            team_id=team_id or self.team_id,
            source=source,
            reason="Wants to get back to work",
        )

    def consent(self, client_id: str, state: str = "granted") -> httpx.Response:
        reply = self.seen(
            self.keyworker.post(
                f"/api/v1/clients/{client_id}/consents",
                json={
                    "organisation_id": self.organisation_id,
                    "purpose": "evaluation",
                    "state": state,
                },
            )
        )
        assert reply.status_code == 201, reply.text
        return reply

    def allocation(self, client_id: str, who: Session | None = None) -> httpx.Response:
        return self.seen((who or self.keyworker).get(f"/api/v1/clients/{client_id}/allocation"))

    def arm_of(self, client_id: str) -> Arm:
        reply = self.allocation(client_id)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["status"] == "allocated", body
        return Arm(body["arm"])

    def verify(self, trial_id: str) -> dict[str, Any]:
        reply = self.seen(self.supervisor.post(f"{TRIALS}/{trial_id}/verify"))
        assert reply.status_code == 200, reply.text
        result: dict[str, Any] = reply.json()
        return result

    def audit(self, action: str, **params: str) -> list[dict[str, Any]]:
        reply = self.seen(
            self.supervisor.get(
                "/api/v1/audit-events", params={"action": action, "limit": 200, **params}
            )
        )
        assert reply.status_code == 200, reply.text
        events: list[dict[str, Any]] = reply.json()["items"]
        return events


@pytest.fixture
def world(own: Live) -> Iterator[World]:
    w = World(own)
    w.close_open_trials()  # a test that failed half-way may have left one open
    try:
        yield w
    finally:
        w.close_open_trials()


def database(live: Live) -> sa.Engine:
    """A direct connection to the server's database, for what no API may show (the sealed seed)
    and for tampering to prove that verification notices."""
    url = live.env["TEAMWELL_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
    return sa.create_engine(url)


def stored_seed(live: Live, trial_id: str) -> str:
    """Open the trial's seed as the operator could: its sealed row and the server's key file."""
    engine = database(live)
    try:
        with engine.connect() as connection:
            key_id, sealed = connection.execute(
                sa.text("SELECT seed_key_id, seed_ciphertext FROM evaluation_trial WHERE id = :id"),
                {
                    "id": uuid.UUID(trial_id)
                    if live.backend == "postgres"
                    else uuid.UUID(trial_id).hex
                },
            ).one()
    finally:
        engine.dispose()
    keyring = MessageKeyring.from_file(Path(live.data_dir) / KEY_FILE_NAME)
    return keyring.decrypt(key_id, bytes(sealed), aad=seed_aad(uuid.UUID(trial_id)))


def set_arm(live: Live, client_id: str, arm: str) -> None:
    engine = database(live)
    key = uuid.UUID(client_id) if live.backend == "postgres" else uuid.UUID(client_id).hex
    try:
        with engine.begin() as connection:
            changed = connection.execute(
                sa.text("UPDATE trial_allocation SET arm = :arm WHERE client_id = :id"),
                {"arm": arm, "id": key},
            )
            assert changed.rowcount == 1
    finally:
        engine.dispose()


def assert_balanced(arms: list[Arm], largest_block: int) -> None:
    """At every point of a stratum's sequence the arms differ by at most half the largest block."""
    difference = 0
    for arm in arms:
        difference += 1 if arm is Arm.IPS else -1
        assert abs(difference) <= largest_block // 2, arms


# --- opening trials -----------------------------------------------------------------------------


def test_a_supervisor_opens_a_trial_and_the_seed_is_never_shown(world: World) -> None:
    trial = world.open_trial(name="  Tyneside IPS evaluation  ", stratify_by="area_cluster")
    assert trial["name"] == "Tyneside IPS evaluation"
    assert trial["stratify_by"] == "area_cluster"
    assert trial["block_sizes"] == [4, 6]  # the default
    assert trial["open"] is True and trial["closed_at"] is None and trial["allocations"] == 0
    assert trial["organisation_id"] == world.organisation_id
    assert trial["created_by"] == world.supervisor.user["id"]
    assert trial["algorithm"] == "teamwell-block-randomisation-v1"
    assert not any("seed" in key for key in trial)

    listed = world.seen(world.supervisor.get(TRIALS)).json()
    assert [t["id"] for t in listed if t["open"]] == [trial["id"]]
    read = world.seen(world.supervisor.get(f"{TRIALS}/{trial['id']}"))
    assert read.json() == trial

    # The seed exists, sealed: the operator can open it from the database and the key file.
    seed = stored_seed(world.live, trial["id"])
    assert len(seed) >= 40

    client_id = world.new_client()
    world.consent(client_id)
    world.arm_of(client_id)
    world.verify(trial["id"])
    world.close_trial(trial["id"])
    world.audit("evaluation.trial_open")
    for reply in world.replies:
        assert seed not in reply.text, reply.request.url
    log = world.live.server.log_path
    assert log is not None and seed not in log.read_text()


def test_one_open_trial_per_organisation(world: World) -> None:
    first = world.open_trial()
    body = problem(
        world.supervisor.post(TRIALS, json={"name": "Second", "stratify_by": "team"}), 409
    )
    assert "open trial" in body["detail"]
    world.close_trial(first["id"])
    second = world.open_trial(stratify_by="team")
    assert second["id"] != first["id"]


def test_validation_errors_are_problem_json(world: World) -> None:
    def refused(body: dict[str, Any], field: str) -> dict[str, Any]:
        reply = world.supervisor.post(TRIALS, json={"name": "Bad", **body})
        result = problem(reply, 422)
        assert result["type"].endswith("/validation-error")
        assert field in [e["field"] for e in result["errors"]], result
        return result

    odd = refused({"stratify_by": "team", "block_sizes": [4, 5]}, "body.block_sizes")
    assert "even" in str(odd["errors"])
    refused({"stratify_by": "team", "block_sizes": [0]}, "body.block_sizes")
    refused({"stratify_by": "team", "block_sizes": [-2]}, "body.block_sizes")
    refused({"stratify_by": "team", "block_sizes": []}, "body.block_sizes")
    unknown = refused({"stratify_by": "postcode"}, "body.stratify_by")
    assert "area_cluster" in str(unknown["errors"])
    refused({"stratify_by": "team", "name": "   "}, "body.name")
    # Nobody chooses the seed: it is generated on the server.
    refused({"stratify_by": "team", "seed": "guessable"}, "body.seed")

    # The largest block is a setting, tested at its edge.
    too_big = refused(
        {"stratify_by": "team", "block_sizes": [4, DEFAULT_MAX_BLOCK_SIZE + 2]}, "body.block_sizes"
    )
    assert str(DEFAULT_MAX_BLOCK_SIZE) in too_big["detail"]
    largest = world.open_trial(stratify_by="team", block_sizes=[2, DEFAULT_MAX_BLOCK_SIZE])
    world.close_trial(largest["id"])

    # So is the number of sizes to choose from.
    refused(
        {"stratify_by": "team", "block_sizes": [2] * (MAX_BLOCK_SIZE_CHOICES + 1)},
        "body.block_sizes",
    )
    most = world.open_trial(stratify_by="team", block_sizes=[2] * MAX_BLOCK_SIZE_CHOICES)
    world.close_trial(most["id"])
    assert not [t for t in world.supervisor.get(TRIALS).json() if t["name"] == "Bad"]


# --- allocation ---------------------------------------------------------------------------------


def test_balance_within_each_stratum_and_reproducibility(world: World) -> None:
    trial = world.open_trial(stratify_by="referral_source", block_sizes=[2, 4, 6])
    sources = ["jobcentre", "self", "jobcentre", "talking_therapies", "self", "jobcentre"] * 5
    arms: dict[str, list[Arm]] = {}
    for source in sources:
        client_id = world.new_client(source)
        world.consent(client_id)
        arms.setdefault(source, []).append(world.arm_of(client_id))
        for sequence in arms.values():
            assert_balanced(sequence, largest_block=6)
    assert {s: len(a) for s, a in arms.items()} == {
        "jobcentre": 15,
        "self": 10,
        "talking_therapies": 5,
    }
    assert all(Arm.IPS in a and Arm.TREATMENT_AS_USUAL in a for a in arms.values())

    # Reproducible: the recorded seed gives each stratum's sequence, in consent order.
    seed = stored_seed(world.live, trial["id"])
    for source, sequence in arms.items():
        assert sequence == allocation_sequence(
            seed, source, block_sizes=(2, 4, 6), length=len(sequence)
        ), source

    result = world.verify(trial["id"])
    assert result["all_match"] is True and result["algorithm_matches"] is True
    assert result["allocations"] == result["matched"] == len(sources)
    assert result["mismatched_allocation_ids"] == []
    assert {
        s["stratum"]: (s["allocations"], s["matched"], s["missing_positions"])
        for s in result["strata"]
    } == {"jobcentre": (15, 15, []), "self": (10, 10, []), "talking_therapies": (5, 5, [])}
    assert "seed" not in str(result) and seed not in str(result)
    assert not {"ips", "treatment_as_usual"} & set(str(result).split("'"))
    read = world.supervisor.get(f"{TRIALS}/{trial['id']}").json()
    assert read["allocations"] == len(sources)

    # The same from the command line, which prints counts and never the seed.
    done = teamwell_cli(world.live.env, "verify-trial", trial["id"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"all {len(sources)} allocations match" in done.stdout
    assert seed not in done.stdout + done.stderr
    verifications = world.audit("evaluation.verify")
    assert {e["actor_id"] for e in verifications if e["resource_id"] == trial["id"]} == {
        world.supervisor.user["id"],
        None,
    }


def test_verification_notices_a_changed_allocation(world: World) -> None:
    trial = world.open_trial(stratify_by="team", block_sizes=[2])
    clients = [world.new_client() for _ in range(4)]
    for client_id in clients:
        world.consent(client_id)
    assert world.verify(trial["id"])["all_match"] is True

    victim = clients[1]
    original = world.arm_of(victim)
    other = Arm.TREATMENT_AS_USUAL if original is Arm.IPS else Arm.IPS
    set_arm(world.live, victim, other.value)
    try:
        result = world.verify(trial["id"])
        assert result["all_match"] is False
        assert result["matched"] == 3 and result["allocations"] == 4
        allocation_ids = result["mismatched_allocation_ids"]
        assert len(allocation_ids) == 1
        done = teamwell_cli(world.live.env, "verify-trial", trial["id"])
        assert done.returncode == 1 and "MISMATCH" in done.stdout
        assert allocation_ids[0] in done.stdout
    finally:
        set_arm(world.live, victim, original.value)
    assert world.verify(trial["id"])["all_match"] is True
    assert teamwell_cli(world.live.env, "verify-trial", str(uuid.uuid4())).returncode == 2


def test_area_clusters_are_normalised_into_one_stratum(world: World) -> None:
    teams = {
        cluster: builders.new_team(world.live, f"{name} {uuid.uuid4().hex[:4]}", cluster)
        for name, cluster in (
            ("Gateshead IPS Team", "  tyne AND   wear "),
            ("Hexham IPS Team", "Northumberland"),
        )
    }
    trial = world.open_trial(stratify_by="area_cluster", block_sizes=[2])
    # The demo team's cluster is "Tyne and Wear": one stratum with the Gateshead team's.
    for team_id in (world.team_id, teams["  tyne AND   wear "], teams["Northumberland"]):
        client_id = world.new_client(team_id=team_id)
        world.consent(client_id)
    strata = {s["stratum"]: s["allocations"] for s in world.verify(trial["id"])["strata"]}
    assert strata == {"tyne and wear": 2, "northumberland": 1}


def test_the_arm_is_concealed_until_consent_is_recorded(world: World) -> None:
    trial = world.open_trial(stratify_by="team")
    client_id = world.new_client()

    def awaiting() -> None:
        reply = world.allocation(client_id)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body == {
            "client_id": client_id,
            "trial_id": trial["id"],
            "trial_name": trial["name"],
            "status": "awaiting_consent",
            "arm": None,
            "stratum": None,
            "stratum_label": None,
            "allocated_at": None,
            "consent_record_id": None,
        }
        assert not ARMS & set(reply.text.replace('"', " ").split())

    awaiting()
    # A refusal recorded first allocates nothing; nor does consent for another purpose.
    world.consent(client_id, state="withdrawn")
    awaiting()
    care = world.keyworker.post(
        f"/api/v1/clients/{client_id}/consents",
        json={"organisation_id": world.organisation_id, "purpose": "care", "state": "granted"},
    )
    assert care.status_code == 201, care.text
    awaiting()
    assert world.supervisor.get(f"{TRIALS}/{trial['id']}").json()["allocations"] == 0

    granted = world.consent(client_id).json()
    reply = world.allocation(client_id)
    body = reply.json()
    assert body["status"] == "allocated" and body["arm"] in ARMS
    assert body["consent_record_id"] == granted["id"]
    assert body["stratum"] == world.team_id and body["trial_id"] == trial["id"]
    # A team stratum is stored as the team's id and read by its name.
    assert body["stratum_label"] == DEMO_TEAM
    # The supervisor of the care team reads it too; each reading is audited.
    assert world.allocation(client_id, world.supervisor).json()["arm"] == body["arm"]
    reads = world.audit("evaluation.allocation_read", client_id=client_id)
    assert len(reads) == 5 and all(e["outcome"] == "success" for e in reads)
    allocated = world.audit("evaluation.allocate", client_id=client_id)
    assert len(allocated) == 1 and "position 0" in allocated[0]["detail"]
    assert body["arm"] not in allocated[0]["detail"]


def test_only_new_clients_are_randomised(world: World) -> None:
    before = world.new_client()  # on the caseload before the trial opened
    trial = world.open_trial(stratify_by="team")
    problem(world.allocation(before), 404)
    world.consent(before)
    problem(world.allocation(before), 404)

    in_work = world.new_client()
    moved = world.keyworker.patch(f"/api/v1/clients/{in_work}", json={"status": "in_work"})
    assert moved.status_code == 200, moved.text
    problem(world.allocation(in_work), 404)
    world.consent(in_work)
    problem(world.allocation(in_work), 404)

    active = world.new_client()
    assert (
        world.keyworker.patch(f"/api/v1/clients/{active}", json={"status": "active"}).status_code
        == 200
    )
    world.consent(active)
    world.arm_of(active)
    assert world.supervisor.get(f"{TRIALS}/{trial['id']}").json()["allocations"] == 1


def test_one_allocation_per_client_and_withdrawal_keeps_it(world: World) -> None:
    trial = world.open_trial(stratify_by="team", block_sizes=[2])
    client_id = world.new_client()
    first = world.consent(client_id).json()
    arm = world.arm_of(client_id)

    world.consent(client_id, state="withdrawn")
    after_withdrawal = world.allocation(client_id).json()
    assert after_withdrawal["status"] == "allocated" and Arm(after_withdrawal["arm"]) is arm

    world.consent(client_id)
    world.consent(client_id)
    again = world.allocation(client_id).json()
    assert Arm(again["arm"]) is arm and again["consent_record_id"] == first["id"]
    assert world.supervisor.get(f"{TRIALS}/{trial['id']}").json()["allocations"] == 1
    assert len(world.audit("evaluation.allocate", client_id=client_id)) == 1
    # The next client takes the next position in the stratum, not the same one.
    result = world.verify(trial["id"])
    assert result["allocations"] == 1
    second = world.new_client()
    world.consent(second)
    stratum = world.verify(trial["id"])["strata"][0]
    assert (stratum["allocations"], stratum["missing_positions"]) == (2, [])


def test_a_closed_trial_allocates_nothing(world: World) -> None:
    trial = world.open_trial(stratify_by="team")
    client_id = world.new_client()
    closed = world.close_trial(trial["id"])
    assert closed["open"] is False and closed["closed_at"] is not None
    problem(world.allocation(client_id), 404)  # no longer awaiting anything
    world.consent(client_id)
    problem(world.allocation(client_id), 404)
    assert world.supervisor.get(f"{TRIALS}/{trial['id']}").json()["allocations"] == 0
    body = problem(world.supervisor.post(f"{TRIALS}/{trial['id']}/close"), 409)
    assert "already closed" in body["detail"]
    # A closed trial can still be verified.
    assert world.verify(trial["id"])["all_match"] is True
    assert len(world.audit("evaluation.trial_close")) >= 1


def test_concurrent_consents_take_successive_positions(world: World) -> None:
    trial = world.open_trial(stratify_by="team", block_sizes=[2])
    clients = [world.new_client() for _ in range(8)]
    start = threading.Barrier(len(clients))
    statuses: dict[str, int] = {}
    token = world.keyworker.http.headers["Authorization"]

    def consent(client_id: str) -> None:
        with world.live.client(headers={"Authorization": token}) as http:
            start.wait(timeout=30)
            reply = http.post(
                f"/api/v1/clients/{client_id}/consents",
                json={
                    "organisation_id": world.organisation_id,
                    "purpose": "evaluation",
                    "state": "granted",
                },
            )
            statuses[client_id] = reply.status_code

    threads = [threading.Thread(target=consent, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == dict.fromkeys(clients, 201)
    result = world.verify(trial["id"])
    assert result["all_match"] is True
    assert [(s["allocations"], s["missing_positions"]) for s in result["strata"]] == [(8, [])]
    arms = [world.arm_of(c) for c in clients]
    # Blocks of two: whatever order the consents landed in, four went each way.
    assert arms.count(Arm.IPS) == arms.count(Arm.TREATMENT_AS_USUAL) == 4


# --- who may do what ----------------------------------------------------------------------------


def test_only_supervisors_manage_trials(world: World) -> None:
    body = {"name": "Not mine to open", "stratify_by": "team"}
    for role in ("peer_keyworker", "therapist", "employment_specialist", "admin", "client"):
        refused = problem(world.live.as_role(role).post(TRIALS, json=body), 403)
        assert "supervisor" in refused["detail"]
        problem(world.live.as_role(role).get(TRIALS), 403)
    assert world.audit("evaluation.manage") and all(
        e["outcome"] == "denied" for e in world.audit("evaluation.manage")
    )
    trial = world.open_trial(stratify_by="team")
    for role in ("peer_keyworker", "admin"):
        session = world.live.as_role(role)
        problem(session.post(f"{TRIALS}/{trial['id']}/close"), 403)
        problem(session.post(f"{TRIALS}/{trial['id']}/verify"), 403)

    # A supervisor of another organisation does not see this one's trial.
    email = f"supervisor-{uuid.uuid4().hex[:6]}@northern-employment.example"
    world.live.new_account(
        email,
        "Pat Partner",
        "supervisor",
        admin=world.live.as_email("admin@northern-employment.example"),
    )
    partner = world.live.sign_in(email)
    try:
        assert partner.get(TRIALS).json() == []
        for reply in (
            partner.get(f"{TRIALS}/{trial['id']}"),
            partner.post(f"{TRIALS}/{trial['id']}/close"),
            partner.post(f"{TRIALS}/{trial['id']}/verify"),
        ):
            problem(reply, 404)
    finally:
        partner.http.close()
    assert world.supervisor.get(f"{TRIALS}/{trial['id']}").json()["open"] is True


def test_an_allocation_is_read_only_by_those_who_read_the_record(world: World) -> None:
    world.open_trial(stratify_by="team")
    client_id = world.new_client()
    world.consent(client_id)
    world.arm_of(client_id)
    admin = world.live.as_role("admin")
    problem(admin.get(f"/api/v1/clients/{client_id}/allocation"), 403)
    # A therapist not on this client's care team (the new client's team is the keyworker alone).
    problem(world.live.as_role("therapist").get(f"/api/v1/clients/{client_id}/allocation"), 403)
    denied = world.audit("client.read", client_id=client_id)
    assert {e["outcome"] for e in denied} == {"denied"}


def test_the_programme_leads_figures_count_consents_and_arms(world: World) -> None:
    """Six entrants: three consent, one consents then withdraws, one declines, one is not asked;
    a client from before the trial consents and counts nowhere. Blocks of two, so each stratum
    of two allocations holds one of each arm."""
    alex = client_id_of(world.live, "Alex Morgan")
    trial = world.open_trial(stratify_by="referral_source", block_sizes=[2])
    figures_url = f"{TRIALS}/{trial['id']}/figures"
    jobcentre = [world.new_client("jobcentre"), world.new_client("jobcentre")]
    own_referral = [world.new_client("self"), world.new_client("self")]
    for client_id in jobcentre + own_referral:
        world.consent(client_id)
    world.consent(own_referral[1], state="withdrawn")  # allocated, then withdraws
    world.consent(world.new_client(), state="withdrawn")  # said no when asked
    world.new_client()  # not asked yet
    world.consent(alex)  # on the caseload before the trial: not an entrant

    reply = world.seen(world.supervisor.get(figures_url))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["trial_id"] == trial["id"] and body["open"] is True
    assert body["consents"] == {
        "entrants": 6,
        "consented": 3,
        "declined": 1,
        "withdrawn": 1,
        "not_asked": 1,
    }
    # The withdrawn participant keeps their place (intention to treat).
    assert body["allocations"] == {
        "stratum": "all",
        "stratum_label": "all",
        "ips": 2,
        "treatment_as_usual": 2,
        "total": 4,
    }
    assert body["strata"] == [
        {
            "stratum": "jobcentre",
            "stratum_label": "jobcentre",
            "ips": 1,
            "treatment_as_usual": 1,
            "total": 2,
        },
        {"stratum": "self", "stratum_label": "self", "ips": 1, "treatment_as_usual": 1, "total": 2},
    ]
    assert [e["resource_id"] for e in world.audit("evaluation.figures_read")] == [trial["id"]]

    # Clinicians see their own clients' arm on the record, never the trial's figures.
    for role in ("peer_keyworker", "therapist", "employment_specialist", "admin", "client"):
        refused = problem(world.live.as_role(role).get(figures_url), 403)
        assert "supervisors who manage it" in refused["detail"]
    # Each staff refusal is audited (the client's is refused as a client's, before any policy).
    denied = world.audit("evaluation.figures")
    assert len(denied) == 4 and all(e["outcome"] == "denied" for e in denied)

    # Closed, the trial's entrants stop at its closing: a later client is not one.
    world.close_trial(trial["id"])
    world.new_client()
    closed = world.supervisor.get(figures_url).json()
    assert closed["open"] is False and closed["consents"]["entrants"] == 6
    problem(world.supervisor.get(f"{TRIALS}/{uuid.uuid4()}/figures"), 404)
