"""Use cases against the in-memory adapters."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from adapters.memory import MemoryArchive, MemoryCaseStore
from fhir_mappings.claim_to_case import submission_from_fhir
from review import services
from review.errors import Conflict, Invalid, NotFound, StaleVersion
from review.model import Kind, Status
from tests import factories as f

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def env():
    store, archive, clock = MemoryCaseStore(), MemoryArchive(), Clock()

    def submit(body, partner="p1"):
        return services.submit(store, archive, clock, partner, submission_from_fhir(body), b"raw", "application/fhir+json")

    return store, archive, clock, submit


def test_new_submission_creates_a_case_with_clock_and_archive(env):
    store, archive, clock, submit = env
    case = submit(f.pas_bundle(f.claim(priority="stat")))
    assert case.kind is Kind.PRIOR_AUTH and case.due_at - case.received_at == timedelta(hours=72)
    assert case.raw.key in archive.objects and store.writes == 1
    assert [e.type for e in store.history(case.id)] == ["received"]


def test_replay_returns_the_same_case_and_writes_nothing(env):
    store, _, _, submit = env
    first = submit(f.pas_bundle())
    again = submit(f.pas_bundle())
    assert again.id == first.id and len(store.cases) == 1 and store.writes == 1


def test_same_key_other_content_conflicts(env):
    _, _, _, submit = env
    submit(f.pas_bundle())
    with pytest.raises(Conflict) as raised:
        submit(f.pas_bundle(f.claim(items=2)))
    assert raised.value.expression == "Bundle.identifier"


def test_keys_are_per_partner(env):
    store, _, _, submit = env
    assert submit(f.pas_bundle(), "p1").id != submit(f.pas_bundle(), "p2").id


def test_update_changes_the_open_case(env):
    store, _, _, submit = env
    original = submit(f.pas_bundle(f.claim("CLM-1", items=1)))
    body = f.claim("CLM-1-U", related="CLM-1")
    body["item"].append(f.pas_item(2, extension=[*f.pas_item(2)["extension"],
                                                 {"url": f.PAS + "extension-infoChanged", "valueCode": "added"}]))
    updated = submit(f.pas_bundle(body, identifier="BND-2"))
    assert updated.id == original.id and updated.version == 2
    assert [i.sequence for i in updated.items] == [1, 2]
    assert [e.type for e in store.history(original.id)] == ["received", "updated"]


def test_cancel_cancels_the_case(env):
    _, _, _, submit = env
    original = submit(f.pas_bundle(f.claim("CLM-1")))
    cancelled = submit(f.pas_bundle(f.claim("CLM-1-C", related="CLM-1", claim_cert="3"), identifier="BND-3"))
    assert cancelled.id == original.id and cancelled.status is Status.CANCELLED


def test_unknown_related_claim_is_not_found(env):
    _, _, _, submit = env
    with pytest.raises(Invalid) as raised:
        submit(f.pas_bundle(f.claim("CLM-2", related="NOPE")))
    assert raised.value.expression.endswith("related[0].claim") and raised.value.code == "not-found"


def test_related_to_a_determined_claim_is_an_appeal(env):
    store, _, clock, submit = env
    original = submit(f.pas_bundle(f.claim("CLM-1")))
    services.decide(store, clock, "p1", original.id, 1,
                    [{"item_sequence": 1, "decision": "denied", "reason_code": "0U"}])
    appeal = submit(f.pas_bundle(f.claim("CLM-1-A", related="CLM-1"), identifier="BND-4"))
    assert appeal.id != original.id and appeal.kind is Kind.APPEAL and appeal.original_case_id == original.id
    assert appeal.due_at - appeal.received_at == timedelta(days=30)  # pre-service reconsideration


def test_appeal_certification_type_makes_an_expedited_appeal(env):
    _, _, _, submit = env
    original = submit(f.pas_bundle(f.claim("CLM-1")))
    appeal = submit(f.pas_bundle(f.claim("CLM-1-A", related="CLM-1", cert="1"), identifier="BND-5"))
    assert appeal.kind is Kind.APPEAL and appeal.original_case_id == original.id
    assert appeal.due_at - appeal.received_at == timedelta(hours=72)


def test_decide_checks_version_and_partner(env):
    store, _, clock, submit = env
    case = submit(f.pas_bundle())
    with pytest.raises(StaleVersion):
        services.decide(store, clock, "p1", case.id, 7, [{"item_sequence": 1, "decision": "approved"}])
    with pytest.raises(NotFound):
        services.decide(store, clock, "p2", case.id, 1, [{"item_sequence": 1, "decision": "approved"}])
    decided = services.decide(store, clock, "p1", case.id, 1, [{"item_sequence": 1, "decision": "approved"}])
    assert decided.version == 2 and decided.status is Status.DECIDED


def test_inquire_matches_member_and_provider(env):
    store, _, _, submit = env
    case = submit(f.pas_bundle())
    assert [c.id for c in services.inquire(store, "p1", ["member:urn:example:member|M-1"], {"1234567893"})] == [case.id]
    with pytest.raises(NotFound):
        services.inquire(store, "p1", ["member:urn:example:member|M-1"], {"9999999999"})
    with pytest.raises(NotFound):
        services.inquire(store, "p2", ["member:urn:example:member|M-1"], {"1234567893"})


def test_cancel_of_a_decided_case_cancels_it(env):
    store, _, clock, submit = env
    case = submit(f.pas_bundle(f.claim("CLM-1")))
    services.decide(store, clock, "p1", case.id, 1, [{"item_sequence": 1, "decision": "approved"}])
    cancelled = submit(f.pas_bundle(f.claim("CLM-1-C", related="CLM-1", claim_cert="3"), identifier="BND-C"))
    assert cancelled.id == case.id and cancelled.status is Status.CANCELLED and len(store.cases) == 1


def test_update_keeps_determinations_of_items_restated_unchanged(env):
    store, _, clock, submit = env
    case = submit(f.pas_bundle(f.claim("CLM-1", items=2)))
    services.decide(store, clock, "p1", case.id, 1, [{"item_sequence": 1, "decision": "approved"}])
    body = f.claim("CLM-1-U", related="CLM-1", items=2)
    body["item"][1]["extension"].append({"url": f.PAS + "extension-infoChanged", "valueCode": "changed"})
    updated = submit(f.pas_bundle(body, identifier="BND-U"))
    assert updated.items[0].determination.decision.value == "approved"  # restated: kept
    assert updated.items[1].info_changed == "changed" and updated.items[1].determination is None


def test_replay_of_an_update_after_a_later_cancel_answers_as_before(env):
    store, _, _, submit = env
    case = submit(f.pas_bundle(f.claim("CLM-1")))
    update = f.pas_bundle(f.claim("CLM-1-U", related="CLM-1"), identifier="BND-U")
    submit(update)
    submit(f.pas_bundle(f.claim("CLM-1-C", related="CLM-1", claim_cert="3"), identifier="BND-C"))
    assert submit(update).id == case.id


def test_update_goes_to_the_case_its_keys_name_best(env):
    """Senders reuse Claim identifiers; the Claim/<id> reference tells the cases apart."""
    _, _, _, submit = env
    first = submit(f.pas_bundle(f.claim("SHARED", id="first"), identifier="B1"))
    submit(f.pas_bundle(f.claim("SHARED", id="second"), identifier="B2"))
    update = f.claim("SHARED-U", id="upd", related="SHARED")
    update["related"][0]["claim"]["reference"] = "Claim/first"
    assert submit(f.pas_bundle(update, identifier="B3")).id == first.id


def test_appeal_inherits_what_its_thin_message_lacks(env):
    from fhir_mappings.claim_to_case import submission_from_request
    from review.model import Member

    store, archive, clock, submit = env
    original = submit(f.pas_bundle(f.claim("CLM-1")))
    services.decide(store, clock, "p1", original.id, 1, [{"item_sequence": 1, "decision": "denied", "reason_code": "0U"}])
    sub = submission_from_request(f.claim("CLM-1-A", related="CLM-1"), appeal=True)  # a bare Claim: no Patient
    assert sub.draft.member == Member()
    appeal = services.submit(store, archive, clock, "p1", sub, b"raw", "application/fhir+json")
    assert appeal.kind is Kind.APPEAL and appeal.member == original.member and appeal.member.family == "DOE"
