"""Use cases against the in-memory adapters: intake (submit) and the reviewer commands (execute)."""
from __future__ import annotations

import base64
import hashlib
import json
from datetime import date, datetime, timedelta, timezone

import pytest

from adapters.memory import MemoryArchive, MemoryCaseStore, MemoryCaseViews, MemoryReviewerDirectory
from fhir_mappings.claim_to_case import submission_from_fhir, submission_from_request
from review import commands as cmd
from review import services
from review.errors import Conflict, Forbidden, Invalid, KeyReused, NotFound, StaleVersion
from review.model import Actor, Case, Decision, Document, Kind, Member, Priority, Role, Status, Submission
from review.rules import ReviewPolicy
from review.views import AccessRecord
from tests import factories as f

T0 = f.T0  # 2026-11-23 12:00 UTC
UTC = timezone.utc

PHYSICIAN = f.caller("u-physician")
REVIEWER = f.caller("u-reviewer", Role.REVIEWER)
SUPERVISOR = f.caller("u-supervisor", Role.SUPERVISOR)


class Clock:
    """Stands still until a test moves it."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class Env:
    def __init__(self) -> None:
        self.store, self.archive, self.clock = MemoryCaseStore(), MemoryArchive(), Clock()
        self.views = MemoryCaseViews(self.store)
        self.reviewers = MemoryReviewerDirectory([f.profile("u-physician"), f.profile("u-reviewer", Role.REVIEWER)])
        self.policies: dict[str, ReviewPolicy] = {}
        self.reused: list[str] = []  # what submit's on_reuse heard
        self.review = services.Review(cases=self.store, views=self.views, reviewers=self.reviewers,
                                      archive=self.archive, clock=self.clock, policy_of=self.policy)

    def policy(self, partner_id: str) -> ReviewPolicy:
        return self.policies.get(partner_id, ReviewPolicy())

    def submit(self, body: dict, partner: str = "p1", sub: Submission | None = None) -> Case:
        raw = json.dumps(body, sort_keys=True).encode()
        return services.submit(self.store, self.archive, self.clock, partner, self.policy(partner),
                               sub or submission_from_fhir(body), raw, "application/fhir+json",
                               on_reuse=self.reused.append)

    def run(self, caller, case: Case, command: type[cmd.Command], **fields) -> Case:
        """A reviewer command on the case as it is stored now."""
        current = self.store.get(case.id)
        return services.execute(self.review, caller, case.id, command(version=current.version, **fields))

    def settle(self, case: Case, decision: str = "approved", **fields) -> Case:
        """Assigned to the physician reviewer, started and decided: every active item the same way."""
        self.run(SUPERVISOR, case, cmd.Assign, reviewer="u-physician")
        self.run(PHYSICIAN, case, cmd.Start)
        if decision != "approved":
            fields = {"reason_code": "0U", **fields}
        decisions = [{"item_sequence": i.sequence, "decision": decision, **fields} for i in case.active_items]
        return self.run(PHYSICIAN, case, cmd.Decide, decisions=decisions)

    def events(self, case: Case) -> list[str]:
        return [e.type for e in self.store.history(case.id)]


@pytest.fixture
def env() -> Env:
    return Env()


def at(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


# ---- intake ---------------------------------------------------------------------------------

def test_new_submission_creates_a_case_with_clock_and_archive(env):
    case = env.submit(f.pas_bundle(f.claim(priority="stat")))
    assert (case.kind, case.priority, case.status) == (Kind.PRIOR_AUTH, Priority.EXPEDITED, Status.RECEIVED)
    assert (case.received_at, case.due_at) == (T0, at(2026, 11, 26, 12, 0))  # 72 hours
    assert (case.line_of_business, case.pre_service, case.version) == ("medicare-advantage", True, 1)
    assert env.archive.objects[case.raw.key] == json.dumps(f.pas_bundle(f.claim(priority="stat")),
                                                           sort_keys=True).encode()
    assert env.store.writes == 1
    [received] = env.store.history(case.id)
    assert received.model_dump() == {
        "at": T0, "type": "received", "actor": {"id": "p1", "role": Role.PARTNER, "npi": None}, "from_status": None,
        "to_status": Status.RECEIVED, "reason": None,
        "detail": {"kind": "prior-auth", "priority": "expedited", "original_case_id": None, "raw": case.raw.key,
                   "clock": "42 CFR 422.572(a); CMS-0057-F"}}


def test_replay_returns_the_same_case_and_writes_nothing(env):
    first = env.submit(f.pas_bundle())
    again = env.submit(f.pas_bundle())
    assert again == first and len(env.store.cases) == 1 and env.store.writes == 1


def test_same_key_other_content_is_a_new_transaction_linked_to_the_first(env):
    """PAS senders (and the IG's own examples) reuse Bundle.identifier across requests."""
    first = env.submit(f.pas_bundle())
    second = env.submit(f.pas_bundle(f.claim("CLM-2", items=2)))
    assert second.id != first.id and second.transaction_id_reused_from == first.id and env.reused == [first.id]
    assert second.submission_id == first.submission_id  # the answer still echoes the sender's identifier
    assert env.store.history(second.id)[0].detail["transaction_id_reused_from"] == first.id
    assert first.transaction_id_reused_from is None and "transaction_id_reused_from" not in \
        env.store.history(first.id)[0].detail
    # Each content is its own transaction, replayed as such; a third is linked to the first too.
    assert env.submit(f.pas_bundle(f.claim("CLM-2", items=2))) == second
    assert env.submit(f.pas_bundle()) == first
    third = env.submit(f.pas_bundle(f.claim("CLM-3")))
    assert third.transaction_id_reused_from == first.id and len(env.store.cases) == 3
    assert env.reused == [first.id, first.id]  # counted once per new transaction, never for a replay


def test_same_key_other_content_conflicts_for_a_strict_partner(env):
    env.policies["p1"] = ReviewPolicy(strict_transaction_ids=True)
    env.submit(f.pas_bundle())
    with pytest.raises(KeyReused) as raised:
        env.submit(f.pas_bundle(f.claim(items=2)))
    assert isinstance(raised.value, Conflict) and raised.value.expression == "Bundle.identifier"
    assert len(env.store.cases) == 1 and env.reused == []


def test_a_wire_that_requires_unique_keys_conflicts_whatever_the_policy(env):
    env.submit(f.pas_bundle())
    sub = submission_from_fhir(f.pas_bundle(f.claim(items=2))).model_copy(update={"unique_key": True})
    with pytest.raises(KeyReused):
        env.submit({}, sub=sub)


def test_an_update_reusing_its_originals_transaction_id_updates_it(env):
    """The kit's claim update resends A12345, the identifier of the request it updates."""
    original = env.submit(f.pas_bundle(f.claim("CLM-1", items=1)))
    update = f.claim("CLM-1-U", related="CLM-1")
    update["item"].append(f.pas_item(2))
    updated = env.submit(f.pas_bundle(update))
    assert updated.id == original.id and [i.sequence for i in updated.items] == [1, 2]
    assert env.store.history(original.id)[-1].detail["transaction_id_reused_from"] == original.id
    assert env.submit(f.pas_bundle(update)) == updated and len(env.store.cases) == 1  # a replay


def test_related_claim_by_our_case_id(env):
    """Claim/<id> names the sender's own Claim id, or ours: the id of the ClaimResponse it was answered with."""
    case = env.submit(f.pas_bundle(f.claim("CLM-1", id="sender-id")))
    update = f.claim("CLM-1-U", id="upd", related="nothing-known")
    update["related"][0]["claim"] = {"reference": f"Claim/{case.id}"}
    assert env.submit(f.pas_bundle(update, identifier="B2")).id == case.id
    update["related"][0]["claim"] = {"reference": "Claim/sender-id"}
    assert env.submit(f.pas_bundle(update, identifier="B3")).id == case.id
    other = env.submit(f.pas_bundle(f.claim("CLM-9"), identifier="B9"), "p2")  # another partner's case: unknown
    update["related"][0]["claim"] = {"reference": f"Claim/{other.id}"}
    with pytest.raises(services.UnknownRelated):
        env.submit(f.pas_bundle(update, identifier="B4"))


def test_keys_are_per_partner(env):
    assert env.submit(f.pas_bundle(), "p1").id != env.submit(f.pas_bundle(), "p2").id


def test_update_changes_the_open_case(env):
    original = env.submit(f.pas_bundle(f.claim("CLM-1", items=1)))
    body = f.claim("CLM-1-U", related="CLM-1")
    body["item"].append(f.pas_item(2, extension=[*f.pas_item(2)["extension"],
                                                 {"url": f.PAS + "extension-infoChanged", "valueCode": "added"}]))
    env.clock.advance(hours=1)
    updated = env.submit(f.pas_bundle(body, identifier="BND-2"))
    assert updated.id == original.id and updated.version == 2 and updated.status is Status.RECEIVED
    assert [i.sequence for i in updated.items] == [1, 2]
    assert updated.submission_id.value == "BND-2" and [i.value for i in updated.claim_ids] == ["CLM-1", "CLM-1-U"]
    assert updated.due_at == original.due_at == at(2026, 11, 30, 12, 0)
    assert env.events(original) == ["received", "updated"]


def test_cancel_cancels_the_case(env):
    original = env.submit(f.pas_bundle(f.claim("CLM-1")))
    cancelled = env.submit(f.pas_bundle(f.claim("CLM-1-C", related="CLM-1", claim_cert="3"), identifier="BND-3"))
    assert cancelled.id == original.id and cancelled.status is Status.CANCELLED
    assert all(i.cancelled for i in cancelled.items)
    assert env.events(original) == ["received", "cancel"]


def test_a_repeated_cancel_changes_nothing_but_is_recorded(env):
    original = env.submit(f.pas_bundle(f.claim("CLM-1")))
    env.submit(f.pas_bundle(f.claim("CLM-1-C", related="CLM-1", claim_cert="3"), identifier="BND-3"))
    again = env.submit(f.pas_bundle(f.claim("CLM-1-C2", related="CLM-1", claim_cert="3"), identifier="BND-4"))
    assert again.status is Status.CANCELLED
    assert env.events(original) == ["received", "cancel", "cancel-repeated"]


def test_unknown_related_claim_is_not_found(env):
    with pytest.raises(Invalid) as raised:
        env.submit(f.pas_bundle(f.claim("CLM-2", related="NOPE")))
    assert raised.value.expression == "Bundle.entry[0].resource.related[0].claim"
    assert raised.value.code == "not-found"


def test_related_to_a_denied_claim_is_an_appeal(env):
    original = env.submit(f.pas_bundle(f.claim("CLM-1")))
    env.settle(original, "denied")
    env.clock.advance(days=1)
    appeal = env.submit(f.pas_bundle(f.claim("CLM-1-A", related="CLM-1"), identifier="BND-4"))
    assert appeal.id != original.id and appeal.kind is Kind.APPEAL and appeal.original_case_id == original.id
    assert (appeal.appealed_kind, appeal.pre_service) == (Kind.PRIOR_AUTH, True)
    assert appeal.due_at == at(2026, 12, 24, 12, 0)  # pre-service reconsideration: 30 days
    assert env.store.get(original.id).status is Status.DECIDED


def test_appeal_certification_type_makes_an_expedited_appeal(env):
    original = env.submit(f.pas_bundle(f.claim("CLM-1")))
    appeal = env.submit(f.pas_bundle(f.claim("CLM-1-A", related="CLM-1", cert="1"), identifier="BND-5"))
    assert appeal.kind is Kind.APPEAL and appeal.original_case_id == original.id
    assert (appeal.priority, appeal.due_at) == (Priority.EXPEDITED, at(2026, 11, 26, 12, 0))  # 72 hours


def test_execute_checks_the_version_and_partners_see_only_their_cases(env):
    case = env.submit(f.pas_bundle())
    with pytest.raises(StaleVersion) as raised:
        services.execute(env.review, SUPERVISOR, case.id, cmd.Assign(version=7, reviewer="u-physician"))
    assert raised.value.expression == "version" and raised.value.code == "conflict"  # 409
    with pytest.raises(NotFound):
        services.execute(env.review, SUPERVISOR, "no-such-case", cmd.Assign(version=1, reviewer="u-physician"))
    with pytest.raises(NotFound):
        services.get_case(env.store, "p2", case.id)
    assert services.get_case(env.store, "p1", case.id) == case
    decided = env.settle(case)
    assert decided.version == 4 and decided.status is Status.DECIDED


def test_inquire_matches_member_and_provider(env):
    case = env.submit(f.pas_bundle())
    assert [c.id for c in services.inquire(env.store, "p1", ["member:urn:example:member|M-1"], {"1234567893"})] \
        == [case.id]
    assert services.inquire(env.store, "p1", ["member:urn:example:member|M-1"], {"9999999999"}) == []
    assert services.inquire(env.store, "p2", ["member:urn:example:member|M-1"], {"1234567893"}) == []


def test_cancel_of_a_decided_case_cancels_it(env):
    case = env.submit(f.pas_bundle(f.claim("CLM-1")))
    env.settle(case)
    cancelled = env.submit(f.pas_bundle(f.claim("CLM-1-C", related="CLM-1", claim_cert="3"), identifier="BND-C"))
    assert cancelled.id == case.id and cancelled.status is Status.CANCELLED and len(env.store.cases) == 1


def test_update_keeps_items_restated_unchanged(env):
    case = env.submit(f.pas_bundle(f.claim("CLM-1", items=2)))
    body = f.claim("CLM-1-U", related="CLM-1", items=2)
    body["item"][0]["servicedDate"] = "2026-12-24"  # restated without infoChanged: the case keeps its own
    body["item"][1]["servicedDate"] = "2026-12-24"
    body["item"][1]["extension"].append({"url": f.PAS + "extension-infoChanged", "valueCode": "changed"})
    updated = env.submit(f.pas_bundle(body, identifier="BND-U"))
    assert updated.items[0] == case.items[0] and updated.items[0].serviced.start == "2026-12-01"
    assert updated.items[1].info_changed == "changed" and updated.items[1].serviced.start == "2026-12-24"


def test_replay_of_an_update_after_a_later_cancel_answers_as_before(env):
    case = env.submit(f.pas_bundle(f.claim("CLM-1")))
    update = f.pas_bundle(f.claim("CLM-1-U", related="CLM-1"), identifier="BND-U")
    env.submit(update)
    env.submit(f.pas_bundle(f.claim("CLM-1-C", related="CLM-1", claim_cert="3"), identifier="BND-C"))
    assert env.submit(update).id == case.id


def test_update_goes_to_the_case_its_keys_name_best(env):
    """Senders reuse Claim identifiers; the Claim/<id> reference tells the cases apart."""
    first = env.submit(f.pas_bundle(f.claim("SHARED", id="first"), identifier="B1"))
    env.clock.advance(seconds=1)
    env.submit(f.pas_bundle(f.claim("SHARED", id="second"), identifier="B2"))
    update = f.claim("SHARED-U", id="upd", related="SHARED")
    update["related"][0]["claim"]["reference"] = "Claim/first"
    assert env.submit(f.pas_bundle(update, identifier="B3")).id == first.id


def test_appeal_inherits_what_its_thin_message_lacks(env):
    original = env.submit(f.pas_bundle(f.claim("CLM-1")))
    env.settle(original, "denied")
    sub = submission_from_request(f.claim("CLM-1-A", related="CLM-1"), appeal=True)  # a bare Claim: no Patient
    assert sub.draft.member == Member()
    appeal = env.submit({}, sub=sub)
    assert appeal.kind is Kind.APPEAL and appeal.member == original.member and appeal.member.family == "DOE"


# ---- which clock: the review findings ---------------------------------------------------------

def test_an_expedited_payment_appeal_gets_the_payment_clock_not_72_hours(env):
    """MA: an expedited reconsideration excludes payment for services furnished (422.584(a))."""
    claim = env.submit(f.pas_bundle(f.claim("CLM-1", use="claim")))
    assert (claim.kind, claim.pre_service, claim.due_at) == (Kind.CLAIM, False, at(2026, 12, 23, 12, 0))
    env.settle(claim, "denied")
    env.clock.advance(days=2)
    appeal = env.submit(f.pas_bundle(f.claim("CLM-1-A", use="claim", related="CLM-1", cert="1"), identifier="BND-A"))
    assert (appeal.kind, appeal.priority, appeal.pre_service) == (Kind.APPEAL, Priority.EXPEDITED, False)
    assert appeal.due_at == at(2027, 1, 24, 12, 0)  # 60 days from 2026-11-25
    assert env.store.history(appeal.id)[0].detail["clock"] == "42 CFR 422.590(b); 422.584(a)"


def test_a_second_level_appeal_of_a_payment_appeal_keeps_the_payment_clock(env):
    claim = env.submit(f.pas_bundle(f.claim("CLM-1", use="claim")))
    env.settle(claim, "denied")
    first = env.submit(f.pas_bundle(f.claim("CLM-1-A", use="claim", related="CLM-1", cert="2"), identifier="BND-A"))
    env.settle(first, "denied")
    env.clock.advance(days=2)
    second = env.submit(f.pas_bundle(f.claim("CLM-1-B", use="claim", related="CLM-1-A", cert="2"),
                                     identifier="BND-B"))
    assert (second.kind, second.original_case_id, second.appealed_kind) == (Kind.APPEAL, first.id, Kind.CLAIM)
    assert second.pre_service is False
    assert second.due_at == at(2027, 1, 24, 12, 0)  # 60 days (post-service), not 30 (pre-service)


def test_a_second_level_appeal_of_a_prior_auth_appeal_keeps_the_pre_service_clock(env):
    original = env.submit(f.pas_bundle(f.claim("CLM-1")))
    env.settle(original, "denied")
    first = env.submit(f.pas_bundle(f.claim("CLM-1-A", related="CLM-1", cert="2"), identifier="BND-A"))
    env.settle(first, "denied")
    second = env.submit(f.pas_bundle(f.claim("CLM-1-B", related="CLM-1-A", cert="2"), identifier="BND-B"))
    assert (second.pre_service, second.appealed_kind, second.due_at) == (True, Kind.PRIOR_AUTH, at(2026, 12, 23, 12, 0))


def test_a_predetermination_runs_on_its_own_row(env):
    case = env.submit(f.pas_bundle(f.claim(use="predetermination")))
    assert (case.kind, case.pre_service, case.due_at) == (Kind.PREDETERMINATION, True, at(2026, 11, 30, 12, 0))
    assert env.store.history(case.id)[0].detail["kind"] == "predetermination"


def test_the_partners_line_of_business_and_time_zone_set_due_at(env):
    """Commercial (ERISA) standard prior auth is 15 days. Received 2026-11-01 07:00Z: still 00:00
    PDT in Los Angeles, where 15 days later is 00:00 PST, 08:00Z (New York's would be 07:00Z)."""
    env.policies["west"] = ReviewPolicy(line_of_business="commercial-erisa", time_zone="America/Los_Angeles")
    env.clock.now = at(2026, 11, 1, 7, 0)
    case = env.submit(f.pas_bundle(), partner="west")
    assert case.line_of_business == "commercial-erisa"
    assert case.due_at == at(2026, 11, 16, 8, 0)
    assert env.submit(f.pas_bundle(), partner="east").due_at == at(2026, 11, 8, 7, 0)  # MA, 7 days, New York


# ---- follow-ups, revisions and updates of decided requests -------------------------------------

@pytest.mark.parametrize("cert", ["4", "R"])  # X12 1322: extension, renewal
@pytest.mark.parametrize("original_outcome", [None, "approved", "denied"])
def test_an_extension_or_renewal_is_a_new_linked_request(env, cert, original_outcome):
    original = env.submit(f.pas_bundle(f.claim("CLM-1")))
    if original_outcome:
        original = env.settle(original, original_outcome)
    env.clock.advance(days=1)
    follow_up = env.submit(f.pas_bundle(f.claim("CLM-2", related="CLM-1", claim_cert=cert), identifier="BND-2"))
    assert follow_up.id != original.id and follow_up.original_case_id == original.id
    assert (follow_up.kind, follow_up.appealed_kind, follow_up.status) == (Kind.PRIOR_AUTH, None, Status.RECEIVED)
    assert follow_up.due_at == at(2026, 12, 1, 12, 0)  # a new 7-day clock from its own receipt
    assert env.store.get(original.id) == original  # untouched
    assert env.store.history(follow_up.id)[0].detail["original_case_id"] == original.id


def test_a_follow_up_keeps_the_kind_it_was_sent_as(env):
    original = env.submit(f.pas_bundle(f.claim("CLM-1")))
    follow_up = env.submit(f.pas_bundle(f.claim("CLM-2", related="CLM-1", claim_cert="R", use="predetermination"),
                                        identifier="BND-2"))
    assert follow_up.kind is Kind.PREDETERMINATION and follow_up.original_case_id == original.id


def test_a_revision_updates_an_open_request(env):
    original = env.submit(f.pas_bundle(f.claim("CLM-1")))
    revised = env.submit(f.pas_bundle(f.claim("CLM-1-S", related="CLM-1", claim_cert="S"), identifier="BND-2"))
    assert revised.id == original.id and revised.version == 2 and revised.kind is Kind.PRIOR_AUTH
    assert env.events(original) == ["received", "updated"]


@pytest.mark.parametrize("outcome", ["approved", "denied"])
def test_a_revision_of_a_decided_request_is_a_new_request_never_an_appeal(env, outcome):
    original = env.settle(env.submit(f.pas_bundle(f.claim("CLM-1"))), outcome)
    revised = env.submit(f.pas_bundle(f.claim("CLM-1-S", related="CLM-1", claim_cert="S"), identifier="BND-2"))
    assert revised.id != original.id and revised.original_case_id == original.id
    assert (revised.kind, revised.appealed_kind) == (Kind.PRIOR_AUTH, None)


def test_a_related_claim_on_a_decided_approval_is_a_new_request(env):
    original = env.settle(env.submit(f.pas_bundle(f.claim("CLM-1"))))
    again = env.submit(f.pas_bundle(f.claim("CLM-2", related="CLM-1"), identifier="BND-2"))
    assert again.id != original.id and again.original_case_id == original.id
    assert (again.kind, again.appealed_kind, again.due_at) == (Kind.PRIOR_AUTH, None, at(2026, 11, 30, 12, 0))
    assert env.store.get(original.id).status is Status.DECIDED


@pytest.mark.parametrize("outcome, fields", [
    ("denied", {}), ("partial", {"authorized_quantity": 0.5}), ("modified", {"authorized_code": {"code": "99212"}})])
def test_a_related_claim_on_a_decided_adverse_decision_is_an_appeal(env, outcome, fields):
    original = env.settle(env.submit(f.pas_bundle(f.claim("CLM-1"))), outcome, **fields)
    appeal = env.submit(f.pas_bundle(f.claim("CLM-2", related="CLM-1"), identifier="BND-2"))
    assert (appeal.kind, appeal.original_case_id, appeal.appealed_kind) == (Kind.APPEAL, original.id, Kind.PRIOR_AUTH)


def test_an_update_of_a_withdrawn_request_conflicts(env):
    original = env.submit(f.pas_bundle(f.claim("CLM-1")))
    env.run(SUPERVISOR, original, cmd.Withdraw, reason="by phone")
    with pytest.raises(Conflict) as raised:
        env.submit(f.pas_bundle(f.claim("CLM-2", related="CLM-1"), identifier="BND-2"))
    assert raised.value.message == "the case is withdrawn and can no longer be updated"


# ---- priority by update -----------------------------------------------------------------------

def test_an_update_raising_the_priority_recomputes_due_at_from_receipt(env):
    original = env.submit(f.pas_bundle(f.claim("CLM-1")))
    assert original.due_at == at(2026, 11, 30, 12, 0)
    env.clock.advance(days=1)
    raised = env.submit(f.pas_bundle(f.claim("CLM-1-U", related="CLM-1", priority="stat"), identifier="BND-2"))
    assert raised.id == original.id and raised.priority is Priority.EXPEDITED and raised.version == 2
    assert raised.due_at == at(2026, 11, 26, 12, 0)  # 72 hours from T0, not from the update
    assert env.events(original) == ["received", "updated", "priority-changed"]
    event = env.store.history(original.id)[-1]
    assert event.model_dump() == {
        "at": at(2026, 11, 24, 12, 0), "type": "priority-changed",
        "actor": {"id": "p1", "role": Role.PARTNER, "npi": None}, "from_status": Status.RECEIVED, "to_status": Status.RECEIVED, "reason": "changed by the requester's update",
        "detail": {"priority": Priority.EXPEDITED, "due_at": "2026-11-26T12:00:00Z"}}


def test_an_update_lowering_the_priority_records_the_reason(env):
    original = env.submit(f.pas_bundle(f.claim("CLM-1", priority="stat")))
    lowered = env.submit(f.pas_bundle(f.claim("CLM-1-U", related="CLM-1"), identifier="BND-2"))
    assert (lowered.priority, lowered.due_at) == (Priority.STANDARD, at(2026, 11, 30, 12, 0))
    event = env.store.history(original.id)[-1]
    assert (event.type, event.reason) == ("priority-changed", "changed by the requester's update")


# ---- documents ------------------------------------------------------------------------------

def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_attachments_of_a_submission_are_archived(env):
    case = env.submit(f.pas_bundle(f.claim(supportingInfo=f.supporting_info(b"%PDF notes", b"%PDF imaging"))))
    assert case.documents == [
        Document(title="document 1", content_type="application/pdf", key=f"inbound/p1/{sha256(b'%PDF notes')}",
                 sha256=sha256(b"%PDF notes"), size=10, received_at=T0, via="submission"),
        Document(title="document 2", content_type="application/pdf", key=f"inbound/p1/{sha256(b'%PDF imaging')}",
                 sha256=sha256(b"%PDF imaging"), size=12, received_at=T0, via="submission"),
    ]
    assert [env.archive.objects[d.key] for d in case.documents] == [b"%PDF notes", b"%PDF imaging"]


def test_a_claim_update_with_documents_answers_the_information_request(env):
    case = env.submit(f.pas_bundle(f.claim("CLM-1", supportingInfo=f.supporting_info(b"%PDF notes"))))
    env.run(SUPERVISOR, case, cmd.Assign, reviewer="u-physician")
    env.run(PHYSICIAN, case, cmd.Start)
    asked = env.run(PHYSICIAN, case, cmd.RequestInformation, items=[{"text": "Imaging report"}],
                    due_by=date(2026, 12, 1))
    assert asked.status is Status.INFORMATION_REQUESTED
    env.clock.advance(days=2)
    update = f.claim("CLM-1-U", related="CLM-1", supportingInfo=f.supporting_info(b"%PDF imaging"))
    answered = env.submit(f.pas_bundle(update, identifier="BND-2"))
    assert answered.id == case.id and answered.status is Status.IN_REVIEW and answered.version == 5
    assert answered.information_requests[0].answered_at == at(2026, 11, 25, 12, 0)
    assert answered.open_information_request is None
    assert [(d.via, d.sha256) for d in answered.documents] == [
        ("submission", sha256(b"%PDF notes")), ("claim-update", sha256(b"%PDF imaging"))]
    assert env.archive.objects[answered.documents[1].key] == b"%PDF imaging"
    assert env.events(case)[-2:] == ["updated", "information-received"]
    assert env.store.history(case.id)[-1].to_status is Status.IN_REVIEW


def test_an_appeal_keeps_its_documents_as_its_own_submission(env):
    env.settle(env.submit(f.pas_bundle(f.claim("CLM-1"))), "denied")
    appeal = env.submit(f.pas_bundle(f.claim("CLM-2", related="CLM-1", cert="2",
                                             supportingInfo=f.supporting_info(b"%PDF letter")), identifier="BND-2"))
    assert appeal.kind is Kind.APPEAL
    assert [(d.via, d.sha256) for d in appeal.documents] == [("submission", sha256(b"%PDF letter"))]
    assert env.archive.objects[appeal.documents[0].key] == b"%PDF letter"


def test_a_replayed_follow_up_answers_with_the_case_it_made(env):
    env.submit(f.pas_bundle(f.claim("CLM-1")))
    renewal = f.pas_bundle(f.claim("CLM-2", related="CLM-1", claim_cert="R"), identifier="BND-2")
    first = env.submit(renewal)
    writes = env.store.writes
    assert env.submit(renewal) == first and env.store.writes == writes and len(env.store.cases) == 2


# ---- the reviewer's flow --------------------------------------------------------------------

def test_a_reviewer_works_a_case_from_assignment_to_determination(env):
    case = env.submit(f.pas_bundle(f.claim("CLM-1", items=2)))
    env.clock.advance(hours=1)
    assigned = env.run(REVIEWER, case, cmd.Assign, reviewer="u-reviewer")
    assert (assigned.status, assigned.assignee, assigned.version) == (Status.ASSIGNED, "u-reviewer", 2)
    started = env.run(REVIEWER, case, cmd.Start)
    assert started.status is Status.IN_REVIEW
    asked = env.run(REVIEWER, case, cmd.RequestInformation, items=[{"code": {"code": "11506-3"}, "text": "Notes"}],
                    due_by=date(2026, 11, 30))
    assert asked.open_information_request.id == "IR1"
    env.clock.advance(days=1)
    faxed = base64.b64encode(b"fax of the notes").decode()
    informed = env.run(REVIEWER, case, cmd.ProvideInformation,
                       documents=[{"content_type": "application/pdf", "data": faxed, "title": "fax"}])
    assert informed.status is Status.IN_REVIEW and informed.information_requests[0].answered_at == at(2026, 11, 24, 13)
    assert informed.documents == [Document(
        title="fax", content_type="application/pdf", key=f"inbound/p1/{sha256(b'fax of the notes')}",
        sha256=sha256(b"fax of the notes"), size=16, received_at=at(2026, 11, 24, 13), via="reviewer-api")]
    assert env.archive.objects[informed.documents[0].key] == b"fax of the notes"
    decided = env.run(REVIEWER, case, cmd.Decide, decisions=[
        {"item_sequence": 1, "decision": "approved"}, {"item_sequence": 2, "decision": "approved"}])
    assert (decided.status, decided.version, decided.decided_at) == (Status.DECIDED, 6, at(2026, 11, 24, 13))
    assert decided.preauth_ref == f"CB{case.id.upper()}"
    assert [i.determination.decision for i in decided.items] == [Decision.APPROVED, Decision.APPROVED]
    assert env.events(case) == ["received", "assign", "start", "request-information", "information-received",
                                "determination"]
    assert [e.actor for e in env.store.history(case.id)[1:]] == [Actor(id="u-reviewer", role=Role.REVIEWER)] * 5


def test_a_stale_version_is_refused_and_nothing_is_written(env):
    case = env.submit(f.pas_bundle())
    env.run(SUPERVISOR, case, cmd.Assign, reviewer="u-physician")
    with pytest.raises(StaleVersion):
        services.execute(env.review, PHYSICIAN, case.id, cmd.Start(version=1))
    assert env.store.get(case.id).status is Status.ASSIGNED and env.events(case) == ["received", "assign"]


def test_an_adverse_determination_by_execute_needs_a_physician(env):
    case = env.submit(f.pas_bundle())
    env.run(SUPERVISOR, case, cmd.Assign, reviewer="u-reviewer")
    env.run(REVIEWER, case, cmd.Start)
    with pytest.raises(Forbidden):
        env.run(REVIEWER, case, cmd.Decide, decisions=[{"item_sequence": 1, "decision": "denied", "reason_code": "0U"}])


def test_assigning_through_execute_reads_the_reviewer_directory(env):
    env.reviewers.put(f.profile("u-conflicted", provider_npis=["1234567893"]))
    case = env.submit(f.pas_bundle())
    with pytest.raises(Conflict, match=r"\(provider\)$"):
        env.run(SUPERVISOR, case, cmd.Assign, reviewer="u-conflicted")
    with pytest.raises(Invalid):
        env.run(SUPERVISOR, case, cmd.Assign, reviewer="u-unknown")


def test_extend_and_change_priority_use_the_partners_policy(env):
    env.policies["west"] = ReviewPolicy(line_of_business="commercial-erisa", time_zone="America/Los_Angeles")
    case = env.submit(f.pas_bundle(), partner="west")
    assert case.due_at == at(2026, 12, 8, 12, 0)  # 15 days
    extended = env.run(SUPERVISOR, case, cmd.Extend, days=15, reason="records from the provider")
    assert extended.due_at == at(2026, 12, 23, 12, 0)
    with pytest.raises(Invalid, match="29 CFR 2560.503-1"):
        env.run(SUPERVISOR, case, cmd.Extend, days=1, reason="more")
    expedited = env.run(SUPERVISOR, case, cmd.ChangePriority, priority="expedited")
    # An urgent care claim permits no extension (29 CFR 2560.503-1(f)(2)(i)): 72 hours, not 72 hours + 15 days.
    assert expedited.due_at == at(2026, 11, 26, 12, 0)


def test_the_review_api_is_for_reviewers(env):
    case = env.submit(f.pas_bundle())
    partner = f.caller("p1", Role.PARTNER)
    with pytest.raises(Forbidden):
        services.execute(env.review, partner, case.id, cmd.Assign(version=1, reviewer="p1"))
    with pytest.raises(Forbidden):
        services.read_case(env.review, partner, case.id)


def test_reading_a_case_is_logged_without_phi(env):
    case = env.submit(f.pas_bundle())
    env.clock.advance(minutes=5)
    view = services.read_case(env.review, PHYSICIAN, case.id)
    assert view.case == case and [e.type for e in view.history] == ["received"] and view.appeals == []
    assert env.views.accesses == [AccessRecord(case_id=case.id, at=at(2026, 11, 23, 12, 5), actor=Actor(
        id="u-physician", role=Role.PHYSICIAN_REVIEWER, npi=f.REVIEWER_NPI))]
    logged = env.views.accesses[0].model_dump(mode="json")
    assert logged == {"case_id": case.id, "at": "2026-11-23T12:05:00Z", "action": "read",
                      "actor": {"id": "u-physician", "role": "physician-reviewer", "npi": f.REVIEWER_NPI}}


def test_reading_a_case_lists_what_follows_it(env):
    original = env.settle(env.submit(f.pas_bundle(f.claim("CLM-1"))), "denied")
    appeal = env.submit(f.pas_bundle(f.claim("CLM-2", related="CLM-1"), identifier="BND-2"))
    assert services.read_case(env.review, SUPERVISOR, original.id).appeals == [appeal.id]


def test_the_audit_log_is_for_supervisors(env):
    case = env.submit(f.pas_bundle())
    services.read_case(env.review, REVIEWER, case.id)
    for caller in (REVIEWER, PHYSICIAN):
        with pytest.raises(Forbidden):
            services.audit(env.review, caller, case.id)
    accesses, history = services.audit(env.review, SUPERVISOR, case.id)
    assert [(a.actor.id, a.actor.role) for a in accesses] == [("u-reviewer", Role.REVIEWER)]
    assert [e.type for e in history] == ["received"]
    with pytest.raises(NotFound):
        services.audit(env.review, SUPERVISOR, "no-such-case")
