"""Publishing is recorded before it happens, so a lost outcome write never leaks a record."""

from __future__ import annotations

from controller.issuer.actions import Cleanup, Present
from controller.issuer.api import ORDER_FINALIZER
from tests.unit.issuer.factories import order_object
from tests.unit.issuer.test_decide_order import DOMAINS, decide, http_record, status


def test_present_is_decided_with_presented_already_recorded() -> None:
    obj = order_object(finalizers=[ORDER_FINALIZER], status=status())
    decision = decide(obj)
    assert [type(a) for a in decision.actions] == [Present, Present]
    assert all(r["presented"] for r in decision.status["validations"])


def test_deleting_cleans_up_what_was_about_to_be_published() -> None:
    # The Present ran, its outcome's status write was lost: the record says presented, state
    # still Pending. Deletion must still clean it up.
    records = [{**http_record(d, "Pending"), "presented": True} for d in DOMAINS]
    obj = order_object(
        finalizers=[ORDER_FINALIZER], deleting=True, status=status(validations=records)
    )
    obj["status"]["cancelled"] = True
    decision = decide(obj)
    assert [type(a) for a in decision.actions] == [Cleanup, Cleanup]
