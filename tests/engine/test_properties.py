"""Properties of the engine over generated records (issue 2, "How it is proven"): the result does
not depend on the order of the input lists; one initial IV service per site group unless a
separate site is documented; no add-on without an initial service; units never decrease when an
infusion gets longer; malformed records are a RecordError, never another exception; every
administration is charged or listed in not_charged."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coding.engine import RecordError, charge_edits, code_record, parse_record
from coding.engine.cli import main
from coding.engine.terms import is_documented_separate_site

from .records import SALINE, record, site, t

# CI runs the same examples every time (derandomize), so a red build is reproducible and never
# a dice roll; locally each run explores new ones. PROPERTY_EXAMPLES widens a run on demand.
SETTINGS = settings(
    max_examples=int(os.environ.get("PROPERTY_EXAMPLES", 200)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=bool(os.environ.get("CI")),
)
INITIAL_IV = {"96360", "96365", "96374", "96409", "96413"}
IV_CODES = INITIAL_IV | {"96361", "96366", "96367", "96368", "96375", "96376", "96411", "96415",
                         "96417"}  # fmt: skip
DISTINCT = {"59", "XU", "XS"}
DRUGS = ["vancomycin", "cefazolin", "ondansetron", "cisplatin", "fluorouracil", "leuprolide"]
REASONS = [None, None, "vesicant requires a dedicated line", "IV restarted after infiltration"]
POLICIES = {
    "hydration_segments": ["total", "continuous"],
    "second_site_modifier": ["59", "XU", "XS"],
    "second_encounter_modifier": ["59", "XE"],
    "distinct_modifier_scope": ["initial", "all"],
    "concurrent_min_overlap": [1, 10, 16, 30],
    "same_drug_reinfusion": ["sequential", "additional_hour"],
    "split_dose_injections": ["one", "each"],
    "facility_pump_code": ["96416", "G0498"],
}


@st.composite
def administrations(draw, i: int, site_ids: list[str], office: bool):
    """One typical administration: an IV infusion or push, hydration, a fluid carrier, a SQ/IM
    injection, a SQ infusion or an intra-arterial service; pauses inside, bags, pushes with only
    a start."""
    kind = draw(
        st.sampled_from(
            ["infusion", "infusion", "push", "push", "hydration", "carrier", "injection",
             "sq_infusion", "ia", "pump"]
        )
    )  # fmt: skip
    drug = draw(st.sampled_from(DRUGS))
    drug_class = draw(st.sampled_from(["therapeutic", "therapeutic", "chemo", "chemo_hormonal"]))
    start = draw(st.integers(0, 600))
    minutes = draw(st.integers(1, 240))
    a: dict = {
        "id": f"A{i}",
        "drug": drug,
        "drug_class": drug_class,
        "route": "iv",
        "method": "infusion",
        "site": draw(st.sampled_from(site_ids)),
        "order": f"O-{drug}",
        "start": t(start),
        "stop": t(start + minutes),
    }
    if kind == "push":
        a.update(method="push", stop=None)
    elif kind in ("hydration", "carrier"):
        a.update(drug=SALINE, drug_class="hydration", order=f"O-{SALINE}")
        a["purpose"] = (
            "hydration" if kind == "hydration" else draw(st.sampled_from(["vehicle", "kvo"]))
        )
        if draw(st.integers(0, 5)) == 0:
            a["order"] = None  # RAC-1
    elif kind == "injection":
        a.update(
            route=draw(st.sampled_from(["sq", "im"])), method="injection", stop=None, site=None
        )
    elif kind == "sq_infusion":
        a.update(route="sq", drug_class="therapeutic", site="SQ1")
    elif kind == "ia":
        a.update(route="ia", site="IA1")
    elif kind == "pump":
        a.update(drug_class="chemo", stop=None, pump="portable", planned_hours=46)
    if a["method"] == "infusion" and a["stop"] is not None:
        if minutes >= 10 and draw(st.booleans()):
            p_start = draw(st.integers(start + 1, start + minutes - 3))
            p_end = draw(st.integers(p_start + 1, start + minutes - 1))
            a["pauses"] = [{"start": t(p_start), "end": t(p_end)}]
        if draw(st.integers(0, 3)) == 0:
            a["bag"] = draw(st.sampled_from(["B1", "B2", "B3"]))
        if draw(st.integers(0, 8)) == 0:
            a["stop"] = None  # RAC-7
    if office and draw(st.integers(0, 3)) == 0:
        a["primary"] = True
    return a


@st.composite
def records(draw):
    """A valid, typical infusion-record/1: 1-3 sites, 1-12 administrations, flushes, a policy."""
    sites = [
        site(f"S{n}", draw(st.sampled_from(["peripheral_iv", "port", "picc"])),
             reason=draw(st.sampled_from(REASONS)) if n > 1 else None)
        for n in range(1, draw(st.integers(1, 3)) + 1)
    ]  # fmt: skip
    sites += [site("SQ1", "subcutaneous"), site("IA1", "intra_arterial")]
    site_ids = [s["id"] for s in sites if s["kind"] not in ("subcutaneous", "intra_arterial")]
    office = draw(st.integers(0, 5)) == 0
    adms = [
        draw(administrations(i, site_ids, office)) for i in range(1, draw(st.integers(1, 12)) + 1)
    ]
    flushes = [
        {"site": draw(st.sampled_from(site_ids)), "at": t(draw(st.integers(0, 800)))}
        for _ in range(draw(st.integers(0, 4)))
    ]
    policy = {k: draw(st.sampled_from(v)) for k, v in POLICIES.items() if draw(st.booleans())}
    encounter = {}
    if office:
        encounter["setting"] = "office"
    if draw(st.integers(0, 5)) == 0:
        encounter["sequence_of_day"] = 2
    if draw(st.integers(0, 5)) == 0:
        encounter["observation_at"] = draw(st.integers(0, 600))
    return record(*adms, sites=sites, flushes=flushes, policy=policy or None, **encounter)


def coded(doc):
    return code_record(parse_record(doc))


@SETTINGS
@given(records(), st.randoms(use_true_random=False))
def test_the_result_does_not_depend_on_the_order_of_the_input_lists(doc, rnd):
    """record-format: 'The result is the same whatever the order of the lists in the input.'"""
    shuffled = copy.deepcopy(doc)
    for key in ("sites", "orders", "administrations", "flushes"):
        rnd.shuffle(shuffled[key])
    for a in shuffled["administrations"]:
        rnd.shuffle(a.get("pauses") or [])
    assert coded(shuffled).to_json() == coded(doc).to_json()


@SETTINGS
@given(records())
def test_one_initial_iv_service_unless_a_separate_site_is_documented(doc):
    """coding-rules §3: one initial IV service per encounter; a second only on a documented
    separate site, and then it carries the distinct modifier."""
    result = coded(doc)
    plain_initials = [
        c for c in result.charges if c.code in INITIAL_IV and not DISTINCT & set(c.modifiers)
    ]
    assert len(plain_initials) <= 1, [c.to_json() for c in result.charges]
    rec = parse_record(doc)
    modifier = rec.policy.second_site_modifier
    if rec.encounter.sequence_of_day == 1:
        marked = [c for c in result.charges if c.code in IV_CODES and modifier in c.modifiers]
        if marked:
            assert any(is_documented_separate_site(s) for s in rec.sites)
    documented = sum(is_documented_separate_site(s) for s in rec.sites)
    assert sum(c.code in INITIAL_IV for c in result.charges) <= 1 + documented


@SETTINGS
@given(records())
def test_no_add_on_without_an_initial_service(doc):
    """coding-rules §6: an add-on without its initial service is never sent: the engine's lines
    pass its own add-on edit, in the facility and in the office (primary flag)."""
    result = coded(doc)
    assert not [f for f in charge_edits(result.charges) if f.rule == "EDIT-ADDON"]


@st.composite
def single_infusions(draw):
    """One infusion (any family, maybe paused) plus up to three pushes; and k extra minutes."""
    drug_class = draw(st.sampled_from(["therapeutic", "chemo", "hydration"]))
    minutes = draw(st.integers(1, 400))
    routes = {"therapeutic": ["iv", "iv", "sq", "ia"], "chemo": ["iv", "iv", "sq", "ia"]}
    a = {
        "id": "A1",
        "drug": SALINE if drug_class == "hydration" else "vancomycin",
        "drug_class": drug_class,
        "route": draw(st.sampled_from(routes[drug_class])) if drug_class != "hydration" else "iv",
        "method": "infusion",
        "site": "S1",
        "order": "O1",
        "start": t(0),
        "stop": t(minutes),
    }  # fmt: skip
    if drug_class == "hydration":
        a["purpose"] = "hydration"
    if minutes >= 10 and draw(st.booleans()):
        p = draw(st.integers(1, minutes - 3))
        a["pauses"] = [{"start": t(p), "end": t(draw(st.integers(p + 1, minutes - 1)))}]
    pushes = [
        {"id": f"P{n}", "drug": draw(st.sampled_from(["ondansetron", "vancomycin", "cisplatin"])),
         "drug_class": draw(st.sampled_from(["therapeutic", "chemo"])), "route": "iv",
         "method": "push", "site": "S1", "order": None, "start": t(draw(st.integers(-30, 500)))}
        for n in range(draw(st.integers(0, 3)))
    ]  # fmt: skip
    purpose = "hydration" if drug_class == "hydration" else None
    orders = [{"id": "O1", "drug": a["drug"], "dose": "1", "route": a["route"],
               "indication": "x", "purpose": purpose}]  # fmt: skip
    doc = record(a, *pushes, sites=[site("S1")], orders=orders)
    return doc, minutes, draw(st.integers(1, 300))


def units_of(result, adm_id: str) -> int:
    return sum(c.units for c in result.charges if adm_id in c.administrations)


@SETTINGS
@given(single_infusions())
def test_units_never_decrease_when_an_infusion_gets_longer(case):
    """coding-rules §2: more minutes never earn fewer units (push -> infusion -> extra hours)."""
    doc, minutes, k = case
    longer = copy.deepcopy(doc)
    next(x for x in longer["administrations"] if x["id"] == "A1")["stop"] = t(minutes + k)
    assert units_of(coded(longer), "A1") >= units_of(coded(doc), "A1")


@SETTINGS
@given(records())
def test_every_administration_is_charged_or_listed_as_not_charged(doc):
    """issue 2: every administration that earns no charge gets a reason; none is both."""
    result = coded(doc)
    charged = {a for c in result.charges for a in c.administrations}
    listed = Counter(n.administration for n in result.not_charged)
    ids = {a["id"] for a in doc["administrations"]}
    assert charged | set(listed) == ids
    assert not charged & set(listed)
    assert all(n == 1 for n in listed.values())
    assert all(n.reason.strip() for n in result.not_charged)


# --- malformed input --------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(-1e6, 1e6)
    | st.text(max_size=20) | st.sampled_from(["2026-03-02T08:00", "S1", "O-vancomycin", "iv"]),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


def paths(value, prefix=()):
    """Every (container, key) in a JSON document, to delete or replace."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield value, k
            yield from paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield value, i
            yield from paths(v, (*prefix, i))


@st.composite
def broken_records(draw):
    """A valid record with 1-3 fields deleted or replaced by a value of another type."""
    doc = copy.deepcopy(draw(records()))
    for _ in range(draw(st.integers(1, 3))):
        spots = list(paths(doc))
        container, key = draw(st.sampled_from(spots))
        if isinstance(container, dict) and draw(st.booleans()):
            del container[key]
        else:
            container[key] = draw(json_values)
    return doc


def read_and_code(doc) -> None:
    try:
        record_ = parse_record(doc)
    except RecordError as error:
        assert error.field and error.message
        return
    result = code_record(record_)
    json.dumps(result.to_json())


@SETTINGS
@given(json_values)
def test_random_json_is_a_record_error_never_a_crash(value):
    """record-format: anything that is not a valid record is a RecordError naming the field."""
    read_and_code(value)


@SETTINGS
@given(broken_records())
def test_a_record_with_fields_deleted_or_of_the_wrong_type_never_crashes(doc):
    """record-format / issue 2: malformed records give a clean input error or a valid result."""
    read_and_code(doc)


@settings(max_examples=50, deadline=None)
@given(st.one_of(json_values.map(json.dumps), st.text(max_size=50)))
def test_the_cli_on_garbage_exits_2_with_a_message_and_no_traceback(text):
    """record-format: exit 2 with a message on stderr and nothing on stdout for a bad record."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        status = main(["-"], stdin=io.StringIO(text), stdout=out)
    if status == 0:  # a valid record after all (e.g. a bare object that parses)
        json.loads(out.getvalue())
        return
    assert status == 2
    assert out.getvalue() == ""
    assert err.getvalue().strip() and "Traceback" not in err.getvalue()
