"""Issue 13/15 checks at their boundaries (rac-checklist.md, checks.py):

- DOC-6: an order neither given nor documented as not given / held / refused with a reason.
"""

from __future__ import annotations

import pytest

from coding.engine import RecordError, parse_record

from .records import findings, infusion, order, push, record, run


def _orders_record(*extra_orders, administrations=None):
    given = administrations if administrations is not None else [infusion("A1", minutes=60)]
    return record(*given, orders=[order("O-vancomycin", "vancomycin"), *extra_orders])


# --- DOC-6: order without a disposition ------------------------------------------------------


def test_doc6_an_order_neither_given_nor_documented_is_an_error_naming_its_disposition_field():
    doc = _orders_record(order("O2", "ondansetron", dose="8 mg"))
    found = findings(run(doc), "DOC-6")
    assert [(f.severity, f.field, f.administrations) for f in found] == [
        ("error", "orders[1].disposition", ())  # O-vancomycin, then O2: read in id order
    ]
    assert "ondansetron 8 mg (O2)" in found[0].message
    assert "neither given nor documented" in found[0].message


def test_doc6_the_field_is_the_orders_place_in_the_record_as_read():
    """Orders are read in id order: the field names the index the chart resolves."""
    doc = _orders_record(order("O3", "ondansetron"), order("O1", "dexamethasone"))
    record = parse_record(doc)
    fields = {f.field for f in findings(run(doc), "DOC-6")}
    named = {record.orders[int(f[len("orders[") : f.index("]")])].drug for f in fields}
    assert named == {"ondansetron", "dexamethasone"}


def test_doc6_a_given_order_is_not_flagged_whatever_its_method():
    doc = record(infusion("A1", minutes=60), push("A2", at=70, order="O2"),
                 orders=[order("O2", "ondansetron")])  # fmt: skip
    assert findings(run(doc), "DOC-6") == []


@pytest.mark.parametrize("disposition", ["not_given", "held", "refused"])
def test_doc6_an_order_documented_with_a_reason_is_resolved(disposition):
    doc = _orders_record(
        order("O2", "ondansetron", disposition=disposition, disposition_reason="BP 80/50")
    )
    assert findings(run(doc), "DOC-6") == []


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_doc6_a_disposition_without_a_reason_names_the_reason_field(reason):
    doc = _orders_record(order("O2", "ondansetron", disposition="held", disposition_reason=reason))
    found = findings(run(doc), "DOC-6")
    assert [(f.severity, f.field) for f in found] == [("error", "orders[1].disposition_reason")]
    assert "charted as held without a reason" in found[0].message


def test_doc6_every_order_given_no_finding_and_the_charges_are_unchanged():
    given = _orders_record()
    documented = _orders_record(
        order("O2", "ondansetron", disposition="refused", disposition_reason="declined")
    )
    assert findings(run(given), "DOC-6") == []
    assert run(given).charges == run(documented).charges


def test_a_record_without_dispositions_still_reads_and_an_unknown_one_is_a_record_error():
    plain = parse_record(_orders_record(order("O2", "ondansetron")))
    assert all(o.disposition is None and o.disposition_reason is None for o in plain.orders)
    with pytest.raises(RecordError) as bad:
        parse_record(_orders_record(order("O2", "ondansetron", disposition="skipped")))
    assert bad.value.field == "orders[1].disposition"  # as listed in the document
