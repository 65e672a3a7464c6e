import io

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from coding.drug_lines import DRUG_LINE_POSITION_BASE
from coding.models import ChargeFinding, ChargeLine, ChargeRun, MueLimit
from mar.demo import DEMO_USERS
from mar.models import Drug, Encounter, InterfaceMessage

pytestmark = pytest.mark.django_db


def test_demo_loads_users_formulary_and_a_day_with_charges(
    django_capture_on_commit_callbacks,
) -> None:
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("demo", stdout=out)
    for spec in DEMO_USERS:
        user = authenticate(username=spec.username, password=spec.password)
        assert user is not None
        assert user.groups.filter(name=spec.role).exists()
        assert spec.password in out.getvalue()
    assert Drug.objects.filter(drug_class__isnull=True).exists()
    signed = Encounter.objects.filter(status=Encounter.Status.SIGNED)
    assert signed.count() >= 3
    assert Encounter.objects.filter(status=Encounter.Status.IN_PROGRESS).exists()
    for encounter in signed:
        run = ChargeRun.objects.get(encounter=encounter, is_current=True)
        assert run.lines.exists() or run.findings.exists()
    assert MueLimit.objects.exists()  # the coder's per-day unit edits have limits to check
    # The sample charge master is loaded: every line of the demo has its revenue code and price,
    # so no demo encounter is held by a code missing from it (EDIT-CDM).
    from coding.models import ChargeMasterItem
    from coding.review import charge_edits_for_run

    billed = set(ChargeLine.objects.filter(run__is_current=True).values_list("code", flat=True))
    priced = set(ChargeMasterItem.objects.values_list("code", flat=True))
    assert billed and billed <= priced

    for run in ChargeRun.objects.filter(is_current=True):
        edits = charge_edits_for_run(run).items
        assert not [e for e in edits if e.finding.rule == "EDIT-CDM"], run.encounter


def test_demo_registers_its_patients_through_hl7(django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        call_command("demo", stdout=io.StringIO())
    registered = InterfaceMessage.objects.filter(message_type="ADT^A04", outcome="accepted")
    assert set(registered.values_list("encounter", flat=True)) == set(
        Encounter.objects.values_list("pk", flat=True)
    )
    assert all(e.account_number and e.patient.sex for e in Encounter.objects.all())


def test_demo_is_idempotent(django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        call_command("demo", stdout=io.StringIO())
    counts = (Encounter.objects.count(), ChargeRun.objects.count(), Drug.objects.count())
    with django_capture_on_commit_callbacks(execute=True):
        call_command("demo", stdout=io.StringIO())
    assert (Encounter.objects.count(), ChargeRun.objects.count(), Drug.objects.count()) == counts


def test_demo_drugs_state_their_containers_so_jz_and_jw_show_on_single_dose_vials_only(
    django_capture_on_commit_callbacks,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        call_command("demo", stdout=io.StringIO())
    assert Drug.objects.get(name="rituximab").container == Drug.Container.SINGLE_DOSE
    assert Drug.objects.get(name="paclitaxel").container == Drug.Container.MULTI_DOSE
    lines = ChargeLine.objects.filter(run__is_current=True, position__gte=DRUG_LINE_POSITION_BASE)
    modified = sorted((line.code, line.modifiers) for line in lines if line.modifiers)
    # Bevacizumab (J9035): 50 mg wasted; oxaliplatin (J9263): none; both single-dose vials.
    assert modified == [("J9035", ["JW"]), ("J9263", ["JZ"])]
    # Every dose the nurse charted of a drug with a HCPCS code is billed: ondansetron (J2405,
    # per 1 mg) 8 mg in chair 3, 4 + 4 mg in the ED.
    ondansetron: dict[str, int] = {}
    for line in lines.filter(code="J2405").select_related("run__encounter"):
        label = line.run.encounter.location_label
        ondansetron[label] = ondansetron.get(label, 0) + line.units
    assert ondansetron == {"3": 8, "ED 4": 8}
    # Paclitaxel (multi-dose vials) takes neither, though the nurse charted no waste.
    assert lines.filter(code="J9267", modifiers=[]).exists()
    # Cisplatin's container is not stated: the coder is told to ask the pharmacist.
    cisplatin = ChargeFinding.objects.get(
        run__is_current=True, rule="DRUG-WASTE", message__startswith="cisplatin:"
    )
    assert "pharmacist should state" in cisplatin.message


def test_demo_keeps_a_container_the_pharmacist_stated(django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        call_command("demo", stdout=io.StringIO())
    Drug.objects.filter(name="rituximab").update(container=Drug.Container.MULTI_DOSE)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("demo", stdout=io.StringIO())
    assert Drug.objects.get(name="rituximab").container == Drug.Container.MULTI_DOSE


def test_demo_prints_the_real_address_and_the_sign_ins_last(
    django_capture_on_commit_callbacks,
) -> None:
    """Issue 15, item 16: the address is DEMO_ADDR's (bin/demo passes it), and the sign-ins are
    the last lines, not buried under pgtrigger's installation lines."""
    import logging

    from mar.management.commands.demo import demo_url

    heard: list[logging.LogRecord] = []

    class Ear(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            heard.append(record)

    ear = Ear(level=logging.DEBUG)
    logger = logging.getLogger("pgtrigger")
    logger.addHandler(ear)
    out = io.StringIO()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            call_command("demo", "--addr", "127.0.0.1:8001", stdout=out)
    finally:
        logger.removeHandler(ear)
    lines = out.getvalue().rstrip().splitlines()
    assert "Sign in at http://127.0.0.1:8001/ as:" in lines
    assert "localhost:8000" not in out.getvalue()
    tail = lines[-len(DEMO_USERS) :]
    assert all(spec.password in line for spec, line in zip(DEMO_USERS, tail, strict=True))
    assert not [r for r in heard if r.levelno < logging.WARNING]
    assert demo_url("8002") == "http://127.0.0.1:8002/"


def test_demo_drugs_have_ndcs_so_a_scanned_vial_matches_its_order(
    django_capture_on_commit_callbacks,
) -> None:
    """Issue 17: the demo's formulary holds each given drug's NDC (demo packages, labeler 99999),
    so scanning a vial's UPC-A on a demo chart matches it to the order."""
    from mar.bcma import gtin_check_digit
    from mar.demo import DEMO_NDCS
    from mar.models import BarcodeScan, DrugNdc, Order
    from mar.services.scanning import scan_record

    with django_capture_on_commit_callbacks(execute=True):
        call_command("demo", stdout=io.StringIO())
    given = set(
        Encounter.objects.values_list("administrations__drug__name", flat=True).distinct()
    ) & set(DEMO_NDCS)
    assert given
    for name in given:
        assert DrugNdc.objects.filter(drug__name=name, preferred=True).exists(), name
    order = Order.objects.filter(drug__name="ondansetron").select_related("encounter").first()
    assert order is not None
    ndc11 = DEMO_NDCS["ondansetron"][0]  # 99999-0001-10 on the package as 5-3-2: 99999-001-10
    body = "3" + ndc11[:5] + ndc11[6:9] + ndc11[9:]
    upc = body + str(gtin_check_digit(body))
    nurse = authenticate(username=DEMO_USERS[0].username, password=DEMO_USERS[0].password)
    scan = scan_record(encounter=order.encounter, raw=upc, user=nurse)
    assert (scan.kind, scan.result) == (BarcodeScan.Kind.DRUG, BarcodeScan.Result.MATCH), (
        scan.message
    )


def test_the_demo_keeps_its_own_rules_on_orders(django_capture_on_commit_callbacks) -> None:
    """Issue 17: a chemotherapy order starts only once verified, so every chemotherapy order the
    demo gives was verified by the pharmacist before its first administration; orders are placed
    on arrival, not when the demo was loaded; the pharmacist's list has an order to verify (an
    in-progress visit's, not given yet) and the untagged drug's and the ED's, given first."""
    from mar.models import Administration, DrugClass, Order

    with django_capture_on_commit_callbacks(execute=True):
        call_command("demo", stdout=io.StringIO())
    given = Administration.objects.select_related("order__drug", "order__verified_by")
    chemo = [a for a in given if a.order.drug.drug_class == DrugClass.CHEMO]
    assert chemo
    for adm in chemo:
        assert adm.order.verified_by is not None, adm.order
        assert adm.order.verified_by.groups.filter(name="pharmacist").exists()
        assert adm.order.verified_at <= adm.start
    for order in Order.objects.select_related("encounter"):
        assert order.created_at == order.encounter.arrived_at
    unverified = Order.objects.filter(verified_at__isnull=True)
    assert {o.drug.name for o in unverified} >= {"teprotumumab", "ondansetron"}
    assert unverified.filter(
        encounter__status=Encounter.Status.IN_PROGRESS, administrations__isnull=True
    ).exists()


def test_the_demo_has_a_second_nurse_so_a_chemotherapy_start_can_be_double_checked(
    django_capture_on_commit_callbacks,
) -> None:
    """QA: the demo had one nurse, so no chemotherapy could be started in it (the independent
    double check is by a second nurse signing in with her own password)."""
    from mar.models import Order
    from mar.services.safety import StartChecks, is_chemotherapy, start_problems

    with django_capture_on_commit_callbacks(execute=True):
        call_command("demo", stdout=io.StringIO())
    nurse = authenticate(username="nurse", password="nurse-demo-pass")
    second = authenticate(username="nurse2", password="nurse2-demo-pass")
    assert nurse is not None and second is not None and second.groups.filter(name="nurse").exists()
    order = next(
        o
        for o in Order.objects.filter(encounter__status=Encounter.Status.IN_PROGRESS)
        if is_chemotherapy(o)
    )
    checks = StartChecks(second_nurse=second, double_check_confirmed=True, emergency_reason="demo")
    problems = start_problems(order, checks, user=nurse)
    assert not {"second_password", "second_username", "double_check_confirmed"} & set(problems)


def test_the_demo_creates_payers_with_their_coding_policy_to_choose_on_a_new_visit(
    django_capture_on_commit_callbacks,
) -> None:
    """QA: a new visit's Payer list offered only "none / self-pay not yet known" in the demo.
    The demo's payers are offered there, each coded with its own policy (coding-rules §7)."""
    from mar.demo import DEMO_PAYERS
    from mar.models import Payer
    from mar.registration.forms import VisitForm

    with django_capture_on_commit_callbacks(execute=True):
        call_command("demo", stdout=io.StringIO())
        call_command("demo", stdout=io.StringIO())  # idempotent: no second payer, no new version
    offered = {str(p) for p in VisitForm().fields["payer"].queryset}
    assert offered == {spec.name for spec in DEMO_PAYERS}
    for spec in DEMO_PAYERS:
        payer = Payer.objects.get(name=spec.name)
        policy = payer.current_policy()
        assert policy is not None
        assert payer.policies.count() == (2 if spec.policy else 1)
        assert {k: policy.values[k] for k in spec.policy} == spec.policy
