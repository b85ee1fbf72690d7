"""HL7 v2 application responses end to end: a request comes in over HL7 (the stack's HTTP door),
a reviewer decides, and the sender's engine, an MLLP (or HTTP) receiver this test starts, gets the
response in the request's version, read back with hl7apy and checked field by field. Its ACK
decides the delivery: AA delivered, AE dead-lettered with the ERR recorded, silence retried."""
from __future__ import annotations

import threading

import pytest
import requests

from adapters.hl7v2.ack import Error, Header, acknowledgment
from adapters.hl7v2.mllp import MllpListener
from tests import hl7_factories as h
from tests.integration.test_delivery import case_of, delivery, eventually, settled  # noqa: F401 (fixtures)
from tests.receivers import Receiver, Reply
from tests.unit.test_hl7v2_responses import read, segments, value

pytestmark = pytest.mark.integration


class Engine:
    """The sender's interface engine: takes our responses over MLLP and answers each with an ACK
    (AA unless told otherwise; None: no answer at all)."""

    def __init__(self):
        self.received: list[str] = []
        self.answers: list[tuple[str, Error | None] | None] = []
        self._lock = threading.Lock()
        self.listener = MllpListener("127.0.0.1", 0, self._handle, frame_timeout=5, shutdown_grace=0.5)

    def _handle(self, frame: bytes) -> list[bytes]:
        text = frame.decode()
        with self._lock:
            self.received.append(text)
            answer = self.answers.pop(0) if self.answers else ("AA", None)
        if answer is None:
            threading.Event().wait(1.5)  # longer than the stack waits for an ACK: no answer
            return []
        return [acknowledgment(Header.of(text), *answer).encode()]

    def __enter__(self) -> Engine:
        self.listener.start()
        return self

    def __exit__(self, *exc) -> None:
        self.listener.stop()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.listener.port}"


@pytest.fixture
def hl7_partner(delivering_partner):
    """hl7_partner(hl7v2 target) -> (partner id, facility): its HL7 requests are answered there."""
    def add(target: dict) -> tuple[str, str]:
        partner = delivering_partner({"hl7v2": target})
        return partner, partner.upper()
    return add


def send(base_url: str, partner: str, message: str) -> str:
    resp = requests.post(f"{base_url}/hl7v2", data=message.encode(), timeout=30, headers={
        "Authorization": f"Bearer token-{partner}", "Content-Type": "x-application/hl7-v2+er7"})
    assert resp.status_code == 200 and "MSA|AA|" in resp.text, resp.text
    return resp.text


def case_id_of(api, partner: str, identifier: str) -> str:
    [entry] = api(partner).get("/fhir/ClaimResponse", identifier=identifier).json()["entry"]
    return entry["resource"]["id"]


REQUESTS = [  # (request builder, claim identifier to find the case by, the response MSH-9)
    pytest.param(lambda f, n: h.rqa("I08", ref=n, version="2.4", control_id=f"D24-{n}", facility=f),
                 "REF-{n}", "RPA^I08^RPA_I08", id="RQA^I08 2.4"),
    pytest.param(lambda f, n: h.rqa("I08", ref=n, version="2.5.1", control_id=f"D251-{n}", facility=f),
                 "REF-{n}", "RPA^I08^RPA_I08", id="RQA^I08 2.5.1"),
    pytest.param(lambda f, n: h.ref_i12(ref=n, version="2.5", control_id=f"DREF-{n}", facility=f),
                 "REF-{n}", "RRI^I12^RRI_I12", id="REF^I12 2.5"),
    pytest.param(lambda f, n: h.ehc("E20", inv=n, control_id=f"DE20-{n}", facility=f),
                 "INV-{n}", "EHC^E24^EHC_E24", id="EHC^E20 2.6"),
    pytest.param(lambda f, n: h.ehc("E01", inv=n, control_id=f"DE01-{n}", facility=f),
                 "INV-{n}", "EHC^E10^EHC_E10", id="EHC^E01 2.6"),
]


@pytest.mark.parametrize("build, identifier, response_type", REQUESTS)
def test_each_request_type_gets_its_application_response(build, identifier, response_type, base_url, api,
                                                         reviewer, hl7_partner, case_of, request):
    n = request.node.callspec.id.replace(" ", "").replace("^", "").replace(".", "")
    with Engine() as engine:
        partner, facility = hl7_partner({"mllp": engine.address})
        message = build(facility, n)
        send(base_url, partner, message)
        case_id = case_id_of(api, partner, identifier.format(n=n))
        decisions = [{"item_sequence": i["sequence"], "decision": "approved"}
                     for i in reviewer().get(f"/cases/{case_id}").json()["case"]["items"]]
        assert reviewer().decide(case_id, *decisions).status_code == 200
        case = settled(case_of, case_id, "delivered", "hl7v2")
        [text] = engine.received
    sent = message.split("\r")[0].split("|")
    msg = read(text)  # hl7apy, strict, in the request's own version
    assert value(msg.msh, "MSH_9") == response_type and value(msg.msh, "MSH_12") == sent[11]
    assert value(msg.msa, "MSA_1") == "AA" and value(msg.msa, "MSA_2") == sent[9]  # answers the request
    assert text.split("\r")[0].split("|")[5] == facility  # back to the sender (MSH-5/6 swapped)
    items = case["case"]["items"]
    numbers = [i["determination"]["authorization_number"] for i in items]
    if response_type.startswith(("RPA", "RRI")):
        item_auts = [value(a, "AUT_6") for a in segments(msg, "AUT")][1:]  # after RF1: the case's own
        assert item_auts == numbers and value(segments(msg, "RF1")[0], "RF1_1").startswith("A")
        assert [value(a, "AUT_9") for a in segments(msg, "AUT")][1:] == [f"{i['quantity']:g}" if i.get("quantity") else "" for i in items]
    else:
        adjustments = segments(msg, "ADJ")
        assert [value(a, "ADJ_2") for a in adjustments] == numbers
        assert all(value(a, "ADJ_7").startswith("A1") for a in adjustments)
    [attempt] = delivery(case, "hl7v2")["attempts"]
    assert (attempt["code"], attempt["n"]) == ("AA", 1) and case["case"]["status"] == "delivered"  # its one target


def test_an_ae_is_dead_lettered_with_its_error_and_silence_is_retried(base_url, api, reviewer, hl7_partner, case_of):
    with Engine() as engine:
        engine.answers = [None, ("AE", Error("207"))]  # first no answer, then an application error
        partner, facility = hl7_partner({"mllp": engine.address})
        send(base_url, partner, h.rqa("I08", ref="AE-1", control_id="DAE-1", facility=facility))
        case_id = case_id_of(api, partner, "REF-AE-1")
        assert reviewer().decide(case_id, {"item_sequence": 1, "decision": "approved"}).status_code == 200
        case = settled(case_of, case_id, "dead", "hl7v2")
        assert len(engine.received) == 2
    silent, refused = delivery(case, "hl7v2")["attempts"]
    assert silent["code"] is None and silent["next_at"]  # no ACK within the wait: tried again
    assert refused["code"] == "AE" and "207" in refused["error"] and refused.get("next_at") is None


def test_responses_over_http_take_the_ack_from_the_body(base_url, api, reviewer, hl7_partner, case_of):
    with Receiver() as engine:
        def ack(received):
            return Reply(200, {"Content-Type": "x-application/hl7-v2+er7"},
                         acknowledgment(Header.of(received.body.decode()), "AA").encode())
        engine.serve("/hl7", ack)
        partner, facility = hl7_partner({"http": f"{engine.url}/hl7"})
        message = h.rqa("I08", ref="HTTP-1", control_id="DHTTP-1", facility=facility)
        send(base_url, partner, message)
        case_id = case_id_of(api, partner, "REF-HTTP-1")
        assert reviewer().decide(case_id, {"item_sequence": 1, "decision": "denied", "reason_code": "0U",
                                           "reason_text": "not | medically ^ necessary"}).status_code == 200
        case = settled(case_of, case_id, "delivered", "hl7v2")
        [post] = engine.to("/hl7")
    assert post.headers["content-type"] == "x-application/hl7-v2+er7"
    msg = read(post.body.decode())
    assert value(msg.msa, "MSA_2") == "DHTTP-1" and value(segments(msg, "RF1")[0], "RF1_1").startswith("R")
    assert "not \\F\\ medically \\S\\ necessary" in post.body.decode()  # escaped in the sender's delimiters
    assert delivery(case, "hl7v2")["attempts"][0]["code"] == "AA"
