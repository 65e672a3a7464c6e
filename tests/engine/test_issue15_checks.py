"""Issue 13/15 checks at their boundaries (rac-checklist.md, checks.py):

- DOC-6: an order neither given nor documented as not given / held / refused with a reason.
- DRUG-DOSE: a drug billed in HCPCS units with no dose, or a dose in a unit that cannot become
  its billing unit (AUC, mg/m2, mg/kg as charted).
"""

from __future__ import annotations

import pytest

from coding.engine import RecordError, parse_record

from .records import chemo, findings, infusion, not_charged, order, push, record, run


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


# --- DRUG-DOSE: drug without a billable dose ---------------------------------------------------

J9045 = {"hcpcs": "J9045", "billing_unit": {"value": 50, "unit": "mg"}}


def _carboplatin(**kw):
    return record(chemo("A1", "carboplatin", minutes=60, **{**J9045, **kw}))


def test_drug_dose_a_billed_drug_without_a_dose_is_a_warning_on_the_dose():
    found = findings(run(_carboplatin()), "DRUG-DOSE")
    assert [(f.severity, f.field, f.administrations) for f in found] == [
        ("warning", "dose", ("A1",))
    ]
    assert "no drug charge: dose missing (J9045 per 50 mg)" in found[0].message


@pytest.mark.parametrize("unit", ["AUC", "mg/m2", "mg/kg", "mL", ""])
def test_drug_dose_a_dose_in_a_unit_that_cannot_be_billed_names_the_unit(unit):
    dose = {"value": 5, "unit": unit} if unit else {"value": 5, "unit": " "}
    if not unit:  # an empty unit is not a dose the reader takes
        with pytest.raises(RecordError):
            parse_record(_carboplatin(dose=dose))
        return
    found = findings(run(_carboplatin(dose=dose)), "DRUG-DOSE")
    assert [(f.severity, f.field) for f in found] == [("warning", "dose.unit")]
    assert f"the unit {unit} cannot be billed (J9045 per 50 mg)" in found[0].message
    assert "chart the amount given in mg" in found[0].message


@pytest.mark.parametrize(("value", "unit"), [(450, "mg"), (0.45, "g"), (450000, "mcg")])
def test_drug_dose_a_dose_that_converts_is_billable(value, unit):
    assert findings(run(_carboplatin(dose={"value": value, "unit": unit})), "DRUG-DOSE") == []


def test_drug_dose_a_drug_without_a_billing_code_is_not_asked_for_a_dose():
    plain = record(chemo("A1", "carboplatin", minutes=60))
    assert findings(run(plain), "DRUG-DOSE") == []
    code_only = record(chemo("A1", "carboplatin", minutes=60, hcpcs="J9045"))
    assert [f.field for f in findings(run(code_only), "DRUG-DOSE")] == ["dose"]
    billed = record(chemo("A1", "carboplatin", minutes=60, hcpcs="J9045",
                          dose={"value": 5, "unit": "AUC"}))  # fmt: skip
    assert findings(run(billed), "DRUG-DOSE") == []  # no billing unit: nothing to compare


def test_drug_dose_is_a_warning_the_administration_is_still_coded():
    without = run(_carboplatin())
    with_dose = run(_carboplatin(dose={"value": 450, "unit": "mg"}))
    assert without.charges == with_dose.charges
    assert "A1" not in not_charged(without)


def test_a_record_without_billing_fields_still_reads_and_a_bad_one_names_the_field():
    plain = parse_record(record(chemo("A1", minutes=60)))
    assert plain.administrations[0].hcpcs is None
    assert plain.administrations[0].billing_unit is None
    with pytest.raises(RecordError) as bad:
        parse_record(_carboplatin(billing_unit={"value": 0, "unit": "mg"}))
    assert bad.value.field == "administrations[0].billing_unit.value"
