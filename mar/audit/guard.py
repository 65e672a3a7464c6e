"""PostgreSQL triggers that keep a signed record as signed: changes only through an addendum.

The rule, enforced by the database for every statement from any client:

- A signed encounter is never deleted, never un-signed, and its signature (status, signed_by,
  signed_at) never changes.
- Any other insert, update or delete touching a signed encounter's rows (the encounter itself,
  mar_accesssite, mar_order, mar_administration, mar_pause, mar_flush, and the nurse's
  acknowledgements) is allowed only if the same transaction also inserts an Addendum for that
  encounter. An update of an order that only
  changes its class override (class_override, class_override_reason) is also allowed with a
  DrugClassChange row for that order in the same transaction: the pharmacist's recorded
  decision (issue 5), which regenerates the charges like an addendum does.
- The pharmacist's first verification of an order (verified_by and verified_at set where
  verified_at was empty, nothing else changed) is allowed after signing: it is the pharmacist's
  act, not a change to what the nurse charted (an emergency order is often verified after it
  was given), and the history records who and when. A verification is never changed or undone
  on a signed record.
- Registration's account number, filled where it was blank (account_number, with updated_at,
  nothing else changed), is allowed after signing: billing's number for the visit, not the
  clinical record (mar/registration/services.py `encounter_account_set`, audited there). A set
  account number never changes on a signed record.
- Addenda are append-only.

How: a BEFORE row trigger notes, in a transaction-local setting, each signed encounter a
statement touches (the encounter's status is read at that moment, so a record edited and then
signed in one transaction is not caught). An AFTER INSERT trigger on mar_addendum (and on
mar_drugclasschange) notes the encounter it covers. A deferred constraint trigger compares the
two at COMMIT and raises if a touched signed encounter has no addendum. Deferring the check lets
a caller make the record's changes before or after `addendum_store` in the same transaction (its
docstring allows both) without any cooperation from the service code: raw SQL gets the same rule.

Choice documented: a session setting alone (SET LOCAL by addendum_store) would let any code that
sets it edit a signed record without leaving a trace; here the only key is an Addendum row, which
is itself append-only and history-tracked, so every change to a signed record has a who, when and
why. (A database superuser can still disable triggers; production should run the app as a role
that owns no tables if that matters.)
"""

from __future__ import annotations

import pgtrigger

from mar import models as mar

SIGNED = "signed"
EDITS = "mar.signed_edits"  # ",12,15," encounters touched while signed, this transaction
CLASS_EDITS = "mar.signed_class_edits"  # the same, for class-override-only order updates
ADDENDA = "mar.addendum_encounters"  # encounters with an Addendum inserted, this transaction
CLASS_CHANGES = "mar.class_change_encounters"  # encounters with a DrugClassChange on an order


def _append(setting: str, value: str) -> str:
    return (
        f"PERFORM set_config('{setting}', "
        f"coalesce(nullif(current_setting('{setting}', true), ''), ',') || {value} || ',', true);"
    )


# The encounter id of a row of each table: (OLD or NEW) as jsonb `r`.
_ENCOUNTER_OF = {
    "mar_pause": "(SELECT a.encounter_id FROM mar_administration a "
    "WHERE a.id = (r->>'administration_id')::bigint)",
    "mar_encounter": "(r->>'id')::bigint",
    "mar_ratechange": "(SELECT a.encounter_id FROM mar_administration a "
    "WHERE a.id = (r->>'administration_id')::bigint)",
    "mar_siteassessment": "(SELECT s.encounter_id FROM mar_accesssite s "
    "WHERE s.id = (r->>'site_id')::bigint)",
}


def _touch_func(table: str) -> str:
    encounter_of = _ENCOUNTER_OF.get(table, "(r->>'encounter_id')::bigint")
    class_only = ""
    first_verification = ""
    if table == "mar_order":
        first_verification = """
    IF TG_OP = 'UPDATE' AND OLD.verified_at IS NULL AND NEW.verified_at IS NOT NULL
       AND NEW.verified_by_id IS NOT NULL
       AND to_jsonb(NEW) - 'verified_by_id' - 'verified_at'
           = to_jsonb(OLD) - 'verified_by_id' - 'verified_at' THEN
        RETURN NEW;
    END IF;"""
        class_only = """
    IF TG_OP = 'UPDATE'
       AND to_jsonb(NEW) - 'class_override' - 'class_override_reason'
           = to_jsonb(OLD) - 'class_override' - 'class_override_reason' THEN
        kind := 'class';
    END IF;"""
    encounter_rules = ""
    if table == "mar_encounter":
        encounter_rules = """
    IF OLD.status = 'signed' THEN
        IF TG_OP = 'DELETE' THEN
            RAISE EXCEPTION 'encounter % is signed: it cannot be deleted', OLD.id
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        IF NEW.status IS DISTINCT FROM OLD.status
           OR NEW.signed_by_id IS DISTINCT FROM OLD.signed_by_id
           OR NEW.signed_at IS DISTINCT FROM OLD.signed_at THEN
            RAISE EXCEPTION 'encounter % is signed: its signature cannot change', OLD.id
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        IF TG_OP = 'UPDATE' AND OLD.account_number = '' AND NEW.account_number <> ''
           AND to_jsonb(NEW) - 'account_number' - 'updated_at'
               = to_jsonb(OLD) - 'account_number' - 'updated_at' THEN
            RETURN NEW;
        END IF;
    ELSE
        RETURN COALESCE(NEW, OLD);
    END IF;"""
    return f"""
    {encounter_rules}{first_verification}
    FOREACH r IN ARRAY (CASE TG_OP
            WHEN 'INSERT' THEN ARRAY[to_jsonb(NEW)]
            WHEN 'DELETE' THEN ARRAY[to_jsonb(OLD)]
            ELSE ARRAY[to_jsonb(OLD), to_jsonb(NEW)] END) LOOP
        enc := {encounter_of};
        IF enc IS NOT NULL
           AND (SELECT e.status FROM mar_encounter e WHERE e.id = enc) = '{SIGNED}' THEN
            kind := 'record';{class_only}
            IF kind = 'class' THEN
                {_append(CLASS_EDITS, "enc::text")}
            ELSE
                {_append(EDITS, "enc::text")}
            END IF;
        END IF;
    END LOOP;
    RETURN COALESCE(NEW, OLD);
"""


_CHECK_FUNC = f"""
    edits := coalesce(current_setting('{EDITS}', true), '');
    class_edits := coalesce(current_setting('{CLASS_EDITS}', true), '');
    IF edits = '' AND class_edits = '' THEN
        RETURN NULL;
    END IF;
    covered := coalesce(current_setting('{ADDENDA}', true), '');
    FOREACH enc_text IN ARRAY string_to_array(trim(both ',' from edits), ',') LOOP
        IF position(',' || enc_text || ',' IN covered) = 0 THEN
            RAISE EXCEPTION 'encounter % is signed: change it through an addendum', enc_text
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    END LOOP;
    covered := covered || coalesce(current_setting('{CLASS_CHANGES}', true), '');
    FOREACH enc_text IN ARRAY string_to_array(trim(both ',' from class_edits), ',') LOOP
        IF position(',' || enc_text || ',' IN covered) = 0 THEN
            RAISE EXCEPTION
                'encounter % is signed: an order''s class changes with a DrugClassChange', enc_text
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    END LOOP;
    RETURN NULL;
"""

_ADDENDUM_FUNC = f"""
    {_append(ADDENDA, "NEW.encounter_id::text")}
    RETURN NULL;
"""

_ORDER_ENCOUNTER = "(SELECT o.encounter_id FROM mar_order o WHERE o.id = NEW.order_id)::text"
_CLASS_CHANGE_FUNC = f"""
    IF NEW.order_id IS NOT NULL THEN
        {_append(CLASS_CHANGES, _ORDER_ENCOUNTER)}
    END IF;
    RETURN NULL;
"""

GUARDED = [
    mar.Encounter,
    mar.AccessSite,
    mar.Order,
    mar.Administration,
    mar.Pause,
    mar.Flush,
    # The nurse's reasons for signing despite an error: part of the signature once it is made.
    mar.FindingAcknowledgement,
    # Issue 17: rate changes, site assessments and the patient's measures are the record too.
    mar.RateChange,
    mar.SiteAssessment,
    mar.PatientMeasure,
]


def register() -> None:
    for model in GUARDED:
        table = model._meta.db_table
        operation = pgtrigger.Insert | pgtrigger.Update | pgtrigger.Delete
        if model is mar.Encounter:
            operation = pgtrigger.Update | pgtrigger.Delete
        pgtrigger.register(
            pgtrigger.Trigger(
                name="signed_touch",
                when=pgtrigger.Before,
                operation=operation,
                func=_touch_func(table),
                declare=[("r", "jsonb"), ("enc", "bigint"), ("kind", "text")],
            ),
            pgtrigger.Trigger(
                name="signed_check",
                when=pgtrigger.After,
                operation=operation,
                timing=pgtrigger.Deferred,
                func=_CHECK_FUNC,
                declare=[
                    ("edits", "text"),
                    ("class_edits", "text"),
                    ("covered", "text"),
                    ("enc_text", "text"),
                ],
            ),
        )(model)
    pgtrigger.register(
        pgtrigger.Trigger(
            name="addendum_covers",
            when=pgtrigger.After,
            operation=pgtrigger.Insert,
            func=_ADDENDUM_FUNC,
        ),
        pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
    )(mar.Addendum)
    pgtrigger.register(
        pgtrigger.Trigger(
            name="class_change_covers",
            when=pgtrigger.After,
            operation=pgtrigger.Insert,
            func=_CLASS_CHANGE_FUNC,
        ),
    )(mar.DrugClassChange)
