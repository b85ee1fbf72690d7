"""review/outbox.py: which changes owe a delivery, to which targets, keyed so a replay adds nothing;
and the use cases writing them with the change (in-memory store, same contract as DynamoDB's)."""
from __future__ import annotations

import pytest

from review import commands as cmd
from review import outbox
from review.model import Event, Role, Status
from review.outbox import FHIR, HL7V2, Notice
from review.rules import ReviewPolicy
from tests import factories as f
from tests.unit.test_services import PHYSICIAN, SUPERVISOR, T0, Env

BOTH = frozenset({FHIR, HL7V2})
ACTOR = f.caller("u-physician").acting_as(Role.PHYSICIAN_REVIEWER)


def case(source: str = "fhir", version: int = 4):
    return f.case().model_copy(update={"source": source, "version": version})


@pytest.mark.parametrize("event, notice", [*outbox.OWED.items(), ("assign", None), ("start", None),
                                           ("extension", None), ("updated", None), ("cancel-repeated", None)])
def test_each_change_that_changes_what_the_requester_sees_owes_one_notice(event, notice):
    records = outbox.owed(case(), [Event(at=T0, type=event, actor=ACTOR)], BOTH, T0)
    assert [r.notice for r in records] == ([notice] if notice else [])


def test_targets_follow_the_partner_and_the_door_the_case_came_in_by():
    decided = [Event(at=T0, type="determination", actor=ACTOR)]
    assert [r.target for r in outbox.owed(case("fhir"), decided, BOTH, T0)] == [FHIR]
    assert [r.target for r in outbox.owed(case("hl7v2"), decided, BOTH, T0)] == [FHIR, HL7V2]
    assert [r.target for r in outbox.owed(case("hl7v2"), decided, frozenset({HL7V2}), T0)] == [HL7V2]
    assert outbox.owed(case("hl7v2"), decided, frozenset(), T0) == []  # nothing configured: nothing owed


def test_a_record_is_keyed_by_case_version_and_target():
    [record] = outbox.owed(case(version=12), [Event(at=T0, type="reopen", actor=ACTOR)], frozenset({FHIR}), T0)
    assert record.key == "00000012#fhir" and record.notice is Notice.REOPEN and record.case_id == case().id


@pytest.fixture
def env() -> Env:
    env = Env()
    env.policies["p1"] = ReviewPolicy(delivers_to=frozenset({FHIR}))
    return env


def test_a_determination_writes_its_delivery_with_itself(env):
    submitted = env.submit(f.pas_bundle())
    assert env.store.outbox(submitted.id) == []  # the requester got the pended answer in its response
    env.run(SUPERVISOR, submitted, cmd.Assign, reviewer="u-physician")
    env.run(PHYSICIAN, submitted, cmd.Start)
    assert env.store.outbox(submitted.id) == []  # work on the case is not news for the requester
    decided = env.run(PHYSICIAN, submitted, cmd.Decide,
                      decisions=[{"item_sequence": i.sequence, "decision": "approved"} for i in submitted.active_items])
    [record] = env.store.outbox(submitted.id)
    assert (record.target, record.notice, record.case_version) == (FHIR, Notice.DETERMINATION, decided.version)
    reopened = env.run(SUPERVISOR, decided, cmd.Reopen, reason="new evidence from the appeal of a sibling case")
    assert [(r.notice, r.case_version) for r in env.store.outbox(submitted.id)] == [
        (Notice.DETERMINATION, decided.version), (Notice.REOPEN, reopened.version)]


def test_a_cancel_from_the_requester_writes_a_cancellation(env):
    original = env.submit(f.pas_bundle(f.claim("CLM-1")))
    cancelled = env.submit(f.pas_bundle(f.claim("CLM-1-C", related="CLM-1", claim_cert="3"), identifier="BND-3"))
    assert cancelled.status is Status.CANCELLED
    assert [(r.notice, r.case_version) for r in env.store.outbox(original.id)] == [
        (Notice.CANCELLATION, cancelled.version)]
    env.submit(f.pas_bundle(f.claim("CLM-1-C2", related="CLM-1", claim_cert="3"), identifier="BND-4"))
    assert len(env.store.outbox(original.id)) == 1  # a repeated cancel changes nothing: owes nothing


def test_a_partner_without_targets_is_owed_nothing():
    env = Env()
    settled = env.settle(env.submit(f.pas_bundle()))
    assert settled.status is Status.DECIDED and env.store.outbox(settled.id) == []
