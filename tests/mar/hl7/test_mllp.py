"""Real messages through a real socket to a listener started by the test: good ones, and the
bad ones a hospital network sends (wrong version, missing PID, unknown drug code, garbage bytes,
a half frame, a huge message). The listener answers each and stays up."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest

from mar.hl7.mllp import END, START, Listener, frame
from mar.models import Encounter, Order
from tests import factories
from tests.mar.hl7.builders import message, orc, pid, pv1, rde, register, rxe, rxr, segment

pytestmark = pytest.mark.django_db(transaction=True)

MAX_BYTES = 64_000


@pytest.fixture
def listener() -> Iterator[tuple[str, int]]:
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, object] = {}

    async def start() -> None:
        server = await Listener(max_bytes=MAX_BYTES, idle_seconds=2).serve("127.0.0.1", 0)
        box["server"] = server
        box["port"] = server.sockets[0].getsockname()[1]
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()))
    thread.start()
    assert ready.wait(10)
    yield "127.0.0.1", int(box["port"])

    async def stop() -> None:
        server = box["server"]
        server.close()
        await server.wait_closed()

    asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    from django.db import connections

    connections.close_all()


def read_ack(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(END):
        chunk = sock.recv(65536)
        assert chunk, "the listener closed the connection without an ACK"
        data += chunk
    assert data.startswith(START)
    return data[1:-2].decode()


def send(address: tuple[str, int], *payloads: bytes) -> list[str]:
    """Send each payload on one connection; an ACK is read after each framed message."""
    with socket.create_connection(address, timeout=20) as sock:
        acks = []
        for payload in payloads:
            sock.sendall(payload)
            if payload.endswith(END):
                acks.append(read_ack(sock))
        return acks


def msa(ack: str) -> list[str]:
    return next(line for line in ack.split("\r") if line.startswith("MSA")).split("|")


def err(ack: str) -> list[str]:
    return next(line for line in ack.split("\r") if line.startswith("ERR")).split("|")


def test_a_registration_and_an_order_over_mllp(listener) -> None:
    factories.drug_get("oxaliplatin", "chemo")
    acks = send(listener, frame(register(control="M1")), frame(rde(control="M2")))
    assert [msa(a)[1:3] for a in acks] == [["AA", "M1"], ["AA", "M2"]]
    assert Order.objects.get().encounter == Encounter.objects.get(account_number="V-9001")


def test_bad_messages_are_answered_and_the_listener_stays_up(listener) -> None:
    factories.drug_get("oxaliplatin", "chemo")
    send(listener, frame(register()))
    wrong_version, no_pid, unknown_drug, garbage = send(
        listener,
        frame(register(account="V-2", version="2.9")),
        frame(message("ADT^A04", segment("EVN", {1: "A04"}), pv1(account="V-3"))),
        frame(rde("H-1001", "V-9001", orc(), rxe(code="J0000^unobtainium^HCPCS"), rxr())),
        frame(b"\x00\x01\xfe\xff garbage"),
    )
    assert (msa(wrong_version)[1], err(wrong_version)[2]) == ("AR", "MSH^1^12")
    assert (msa(no_pid)[1], err(no_pid)[2]) == ("AE", "PID^1")
    assert (msa(unknown_drug)[1], err(unknown_drug)[2]) == ("AE", "RXE^1^2")
    assert msa(garbage)[1] == "AR"
    # bytes outside any frame are dropped; the next frame is still answered
    (after,) = send(
        listener, b"\x00noise\r\n" + frame(message("ADT^A08", *register().split("\r")[2:]))
    )
    assert msa(after)[1] == "AA"


def test_a_half_frame_does_not_stop_the_listener(listener) -> None:
    whole = frame(register(control="HALF"))
    send(listener, whole[: len(whole) // 2])  # the sender dies mid-message
    with socket.create_connection(listener, timeout=20) as stalled:  # one that stalls
        stalled.sendall(whole[:20])
        (ack,) = send(listener, whole)  # others are served meanwhile
        assert msa(ack)[1:3] == ["AA", "HALF"]
        stalled.settimeout(10)
        assert stalled.recv(10) == b""  # closed after the idle time, unanswered
    assert Encounter.objects.count() == 1


def test_a_message_split_across_packets_is_put_together(listener) -> None:
    whole = frame(register(control="SPLIT"))
    with socket.create_connection(listener, timeout=20) as sock:
        for at in range(0, len(whole), 17):
            sock.sendall(whole[at : at + 17])
        assert msa(read_ack(sock))[1:3] == ["AA", "SPLIT"]


def test_a_huge_message_is_rejected_and_the_connection_goes_on(listener) -> None:
    huge = register(control="HUGE") + "\r" + "NTE|1||" + "x" * (MAX_BYTES * 2)
    too_big, fine = send(listener, frame(huge), frame(register(control="SMALL")))
    assert msa(too_big)[1] == "AR"
    assert "limit" in err(too_big)[-1]
    assert msa(fine)[1:3] == ["AA", "SMALL"]


def test_a_resent_message_gets_the_same_ack(listener) -> None:
    first, again = send(listener, frame(register(control="DUP")), frame(register(control="DUP")))
    assert first == again
    assert Encounter.objects.count() == 1


def test_a_reused_control_id_over_the_socket_is_rejected_not_acked_as_filed(listener) -> None:
    """Over a real socket: a new visit under a control id already used is answered AR, not with
    the first visit's AA, and the listener goes on."""
    first, reused, fine = send(
        listener,
        frame(register(mrn="H-1001", account="V-9001", control="SEQ")),
        frame(register(mrn="H-2002", account="V-9002", control="SEQ")),
        frame(register(mrn="H-2002", account="V-9002", control="SEQ-NEW")),
    )
    assert msa(first)[1:3] == ["AA", "SEQ"]
    assert msa(reused)[1:3] == ["AR", "SEQ"]
    assert msa(fine)[1:3] == ["AA", "SEQ-NEW"]
    assert Encounter.objects.filter(account_number="V-9002").count() == 1


def test_an_a08_over_mllp_moves_the_visit_to_a_unit_as_visits_spell_it(listener) -> None:
    """ADT^A08 normalises the unit as ADT^A04 and the desk do (registration.services
    `unit_as_known`, through `encounter_update`): a unit sent in another case or with other
    spaces lands on the unit the board groups by, not on a unit of its own. Before, A08 set
    PV1-3 as sent ("INFUSION  center" became a unit of its own on the board)."""
    registered, other, moved = send(
        listener,
        frame(register(mrn="H-1001", account="V-9001", control="U1")),  # in "Infusion Center"
        frame(
            message(
                "ADT^A04",
                segment("EVN", {1: "A04"}),
                pid(mrn="H-2002"),
                pv1(account="V-9002", p3="Oncology Day Unit^^3"),
                control="U2",
            )
        ),
        frame(
            message("ADT^A08", pid(mrn="H-2002"), pv1(account="V-9002", p3="INFUSION  center^^12"))
        ),
    )
    assert [msa(a)[1] for a in (registered, other, moved)] == ["AA", "AA", "AA"]
    visit = Encounter.objects.get(account_number="V-9002")
    assert (visit.unit, visit.location_label) == ("Infusion Center", "12")
    assert set(Encounter.objects.values_list("unit", flat=True)) == {"Infusion Center"}


def test_an_a08_over_mllp_fills_a_signed_visits_blank_account_number_and_edit_account_clears(
    listener,
) -> None:
    """A signed, coded visit with no account number (EDIT-ACCOUNT on the coder's review): the
    ADT feed's A08 names it by PV1-50 (the MAR's visit id, which its charge messages sent as the
    visit number) with PV1-19 the account number; the number is filled, the charges made again
    after commit, and EDIT-ACCOUNT is gone from the new run. The ACK says what was done."""
    from coding.models import ChargeRun
    from coding.review import charge_edits_for_run
    from tests.coding.review_helpers import reviewed

    encounter, run, _ = reviewed(account_number="")
    assert [e.finding.rule for e in charge_edits_for_run(run).items] == ["EDIT-ACCOUNT"]
    (ack,) = send(
        listener,
        frame(
            message(
                "ADT^A08",
                pid(mrn=encounter.patient.mrn),
                pv1(account="V-9301", p3="", p7="", p44="", p50=str(encounter.pk)),
            )
        ),
    )
    assert msa(ack)[1] == "AA"
    assert (
        msa(ack)[3]
        == f"PV1-19 V-9301 entered on visit {encounter.pk} (it had none); charges re-run."
    )
    assert Encounter.objects.get(pk=encounter.pk).account_number == "V-9301"
    new = ChargeRun.objects.get(encounter=encounter, is_current=True)
    assert new.pk != run.pk
    assert charge_edits_for_run(new).items == []
