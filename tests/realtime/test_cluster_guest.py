"""A guest across two server processes on one PostgreSQL and one Redis: an interpreter who came
by a guest link opens `/ws` on one process and waits in the lobby; the member of staff, on the
other process, sees them waiting and admits them; each then sees the other in the participant
list, and signalling crosses the processes both ways; the guest's leaving is seen across too.
"""

from __future__ import annotations

from tests.app.meetings.test_meetings_guests import interpreter_waiting
from tests.conftest import Live
from tests.support.cluster import cluster_fixture
from tests.support.server import LiveServer

processes = cluster_fixture("cluster-guest", fixture="processes")


async def test_a_guest_on_one_process_is_admitted_from_the_other(
    processes: tuple[Live, LiveServer],
) -> None:
    first, second = processes
    assert first.base_url != second.base_url
    # The member of staff on process B, the guest on process A; B learns of the guest waiting.
    async with interpreter_waiting(first, second.base_url, first.base_url) as lobby:
        meeting, staff, guest = lobby.meeting, lobby.staff, lobby.guest
        staff_seat, guest_seat = lobby.staff_seat, lobby.guest_seat

        # Admitted from B: the guest on A is told, with the staff member in the list...
        ack = await staff.request(
            {"type": "meeting.admit", "meeting_id": meeting["id"], "participant_id": guest_seat}
        )
        assert ack["type"] == "ack", ack
        admitted = await guest.wait_type("meeting.admitted")
        assert [(p["participant_id"], p["name"]) for p in admitted["participants"]] == [
            (staff_seat, "Priya Shah")
        ]
        # ...and B sees the guest join, named as such.
        came = await staff.wait_for(
            lambda f: (
                f.get("type") == "meeting.participant_joined"
                and f["participant"]["participant_id"] == guest_seat
            )
        )
        assert came["participant"]["guest"] == "interpreter"
        assert came["participant"]["name"] == "Dana Price (interpreter)"

        # Signalling crosses the processes both ways.
        await staff.send(
            {
                "type": "meeting.signal",
                "meeting_id": meeting["id"],
                "to": guest_seat,
                "signal": {"kind": "offer", "sdp": "v=0 offer-from-b"},
            }
        )
        offer = await guest.wait_type("meeting.signal")
        assert offer["from"] == staff_seat and offer["signal"]["sdp"] == "v=0 offer-from-b"
        await guest.send(
            {
                "type": "meeting.signal",
                "meeting_id": meeting["id"],
                "to": staff_seat,
                "signal": {"kind": "answer", "sdp": "v=0 answer-from-a"},
            }
        )
        answer = await staff.wait_type("meeting.signal")
        assert answer["from"] == guest_seat and answer["signal"]["sdp"] == "v=0 answer-from-a"

        # The guest leaves on A; B sees it.
        assert (await guest.request({"type": "meeting.leave", "meeting_id": meeting["id"]}))[
            "type"
        ] == "ack"
        left = await staff.wait_for(
            lambda f: (
                f.get("type") == "meeting.participant_left" and f["participant_id"] == guest_seat
            )
        )
        assert left["reason"] == "left"
    attendance = lobby.keyworker.get(f"/api/v1/meetings/{meeting['id']}/attendance").json()
    [seat] = [a for a in attendance if a["guest"] == "interpreter"]
    assert seat["joined_at"] and seat["left_at"] and seat["user_id"] is None
