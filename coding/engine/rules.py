"""Every rule and check of the engine, by its stable id, with a one-line title.

Each charge line and each not-charged entry of the result names the ids of the rules it applied
(`rules`), each finding names its check (`rule`). The rule book (RULEBOOK.md, beside this module)
has one entry per id: what it decides, the published source it follows, the policy switch where
sources disagree, and the tests that pin it; tests/engine/test_rulebook.py keeps the two in step.
An id never changes meaning; a rule that goes keeps its id out of use. Each is `Final`: a constant
for mypy, and for mypyc, which compiles a read of it to the value (issue 19).
"""

from __future__ import annotations

from typing import Final

# Time and what each administration is (classify.py, timing.py).
MINUTES: Final = "TIME-MINUTES"
PUSH_OR_INFUSION: Final = "TIME-PUSH-OR-INFUSION"
NO_STOP_PUSH: Final = "TIME-NO-STOP-IS-PUSH"
DATE_OF_SERVICE: Final = "TIME-DATE-OF-SERVICE"
MIXED_BAG: Final = "BAG-MIXED-ONE-SERVICE"
NEVER_CHARGED_FLUID: Final = "FLUID-VEHICLE-KVO"
EMS_AFTER_ARRIVAL: Final = "EMS-MINUTES-AFTER-ARRIVAL"
BLOCKED: Final = "BLOCKED-BY-ERROR"
NO_SERVICE: Final = "NO-SEPARATE-SERVICE"

# The initial service (hierarchy.py) and its line (infusions.py).
IV_HIERARCHY: Final = "IV-HIERARCHY"
OFFICE_PRIMARY: Final = "OFFICE-PRIMARY"
SECOND_SITE: Final = "IV-SECOND-SITE"
INITIAL_INFUSION: Final = "IV-INITIAL-INFUSION"
INITIAL_PUSH: Final = "IV-INITIAL-PUSH"
ADDITIONAL_HOUR: Final = "ADDITIONAL-HOUR"

# Infusions after the initial service (infusions.py).
SAME_DRUG_NEW_BAG: Final = "SAME-DRUG-NEW-BAG"
SAME_DRUG_REINFUSION: Final = "SAME-DRUG-REINFUSION"
SEQUENTIAL: Final = "SEQUENTIAL"
OVERLAP_COUNTED_ONCE: Final = "SEQUENTIAL-OVERLAP-ONCE"
PUMP_NOT_SEQUENTIAL: Final = "PUMP-MINUTES-NOT-SEQUENTIAL"
SECOND_LINE_WITHOUT_REASON: Final = "SECOND-LINE-WITHOUT-REASON"
CONCURRENT: Final = "CONCURRENT"
CONCURRENT_SEPARATE_BAGS: Final = "CONCURRENT-SEPARATE-BAGS"
CONCURRENT_ONCE: Final = "CONCURRENT-ONCE"
CONCURRENT_PRIMARY: Final = "CONCURRENT-PRIMARY"

# IV pushes after the initial service (pushes.py).
PUSH_NEW_DRUG: Final = "PUSH-NEW-DRUG"
ALREADY_REPORTED: Final = "PUSH-ALREADY-REPORTED-PER-DRUG"
PUSH_SAME_DRUG: Final = "PUSH-96376-SAME-DRUG"
PUSH_CLOCK: Final = "PUSH-96376-CLOCK"
PUSH_CHEMO_AGAIN: Final = "PUSH-CHEMO-AGAIN"
OFFICE_NO_96376: Final = "OFFICE-NO-96376"

# Hydration (hydration.py).
HYDRATION_ALONE: Final = "HYDRATION-ALONE"
HYDRATION_31_MIN: Final = "HYDRATION-31MIN"
HYDRATION_SEGMENTS: Final = "HYDRATION-SEGMENTS"
HYDRATION_INITIAL: Final = "HYDRATION-INITIAL"
HYDRATION_AFTER_INITIAL: Final = "HYDRATION-AFTER-INITIAL"
HYDRATION_ROUTE: Final = "HYDRATION-IV-ONLY"

# Outside the IV hierarchy (outside.py).
INJECTION: Final = "INJECTION-SQ-IM"
SPLIT_DOSE: Final = "INJECTION-SPLIT-DOSE"
SQ_INFUSION: Final = "SQ-INFUSION"
SQ_INFUSION_NEW_SITE: Final = "SQ-INFUSION-NEW-SITE"
INTRA_ARTERIAL: Final = "IA-SERVICE"
IA_UNLISTED: Final = "IA-UNLISTED-96379"
PUMP_START: Final = "PUMP-START"
PUMP_G0498: Final = "PUMP-G0498-PORTABLE"
INTRALESIONAL: Final = "INTRALESIONAL-SESSION"
INTO_A_SPACE: Final = "CHEMO-INTO-A-SPACE"
PORT_IRRIGATION: Final = "PORT-IRRIGATION"

# Modifiers and claim order (modifiers.py).
MOD_SECOND_SITE: Final = "MOD-59-SECOND-SITE"
MOD_SECOND_ENCOUNTER: Final = "MOD-59-SECOND-ENCOUNTER"
MOD_SCOPE: Final = "MOD-SCOPE"
ONE_LINE_PER_CODE: Final = "CLAIM-ONE-LINE-PER-CODE"

# Drug lines (drug_units.py).
DRUG_BILLING_UNITS: Final = "DRUG-BILLING-UNITS"
DRUG_JW: Final = "DRUG-JW-WASTE"
DRUG_JZ: Final = "DRUG-JZ-NO-WASTE"
DRUG_DAY_TOTAL: Final = "DRUG-DAY-TOTAL"

# The rules that make lines and not-charged reasons, with their titles.
CODING_RULES: dict[str, str] = {
    MINUTES: "Minutes run from the charted start to the charted stop, less pauses, whole minutes",
    PUSH_OR_INFUSION: "Charted as a push is a push; an infusion of 15 min or less is a push",
    NO_STOP_PUSH: "An infusion with no stop time can only be coded as a push (RAC-7)",
    DATE_OF_SERVICE: "Each unit is dated on the day it began: one line per date",
    MIXED_BAG: "Drugs mixed in one bag are one administration, coded by the highest class",
    NEVER_CHARGED_FLUID: "The vehicle that carries a drug and KVO fluid are never charged",
    EMS_AFTER_ARRIVAL: "Only the minutes after arrival count (RAC-8)",
    BLOCKED: "An error finding that makes a service uncodable leaves it uncharged",
    NO_SERVICE: "An administration that is part of another service earns nothing of its own",
    IV_HIERARCHY: "One initial IV service per site group, by the facility hierarchy",
    OFFICE_PRIMARY: "Office: the administration flagged primary is the initial service",
    SECOND_SITE: "A second vascular site earns its own initial service only with a documented "
    "medical reason",
    INITIAL_INFUSION: "Initial infusion 96365/96413: one unit for 16 to 90 minutes",
    INITIAL_PUSH: "Initial push 96374/96409",
    ADDITIONAL_HOUR: "Additional hours: one for each hour past the first with more than 30 "
    "minutes in it",
    SAME_DRUG_NEW_BAG: "The same drug continued in a new bag is one infusion, minutes added",
    SAME_DRUG_REINFUSION: "The same drug infused again after a stop: sequential, or its minutes "
    "added (policy same_drug_reinfusion)",
    SEQUENTIAL: "Sequential infusion of a new drug 96367/96417: 16 minutes or more on its own",
    OVERLAP_COUNTED_ONCE: "Minutes alongside an infusion already running are taken out of the "
    "later one only",
    PUMP_NOT_SEQUENTIAL: "Minutes beside a running pump on the line are not sequential time",
    SECOND_LINE_WITHOUT_REASON: "An undocumented second line: one site group, or its own minutes "
    "(policy second_line_without_reason)",
    CONCURRENT: "Concurrent infusion 96368: a non-chemotherapy drug hung while another runs "
    "(policy concurrent_min_overlap)",
    CONCURRENT_SEPARATE_BAGS: "Concurrent needs separate bags charted (RAC-6)",
    CONCURRENT_ONCE: "96368 once per encounter",
    CONCURRENT_PRIMARY: "96368 only with an initial infusion, its hours or a pump start",
    PUSH_NEW_DRUG: "A push of a drug the encounter does not report yet: 96375/96411",
    ALREADY_REPORTED: "Already reported is asked of each drug, a mixed bag's included; a pump "
    "start does not report its drug",
    PUSH_SAME_DRUG: "A push of a drug already reported: 96376, facility only",
    PUSH_CLOCK: "96376's clock: not within 30 minutes of any reported push of the drug",
    PUSH_CHEMO_AGAIN: "No code for another push of a chemotherapy drug already reported",
    OFFICE_NO_96376: "96376 is not reported in the office",
    HYDRATION_ALONE: "Only the minutes hydration runs alone count",
    HYDRATION_31_MIN: "Hydration is charged only from 31 minutes running alone (DOC-5)",
    HYDRATION_SEGMENTS: "Runs of hydration alone added, or each judged on its own "
    "(policy hydration_segments)",
    HYDRATION_INITIAL: "Hydration as the initial service: 96360 and its hours 96361",
    HYDRATION_AFTER_INITIAL: "Hydration after another initial service: 96361, one unit per "
    "hour started beyond 30 minutes",
    HYDRATION_ROUTE: "Hydration codes are for IV fluids with purpose hydration and a stop time",
    INJECTION: "SQ/IM injections 96372/96401/96402, outside the IV hierarchy",
    SPLIT_DOSE: "One drug in several syringes at one session (policies split_dose_injections, "
    "split_dose_window_minutes)",
    SQ_INFUSION: "SQ infusion 96369/96370: the longest one is initial; 96369 once per encounter",
    SQ_INFUSION_NEW_SITE: "96371 for a new SQ site, once per encounter",
    INTRA_ARTERIAL: "Intra-arterial services on their own access: 96373/96420/96422/96423",
    IA_UNLISTED: "A therapeutic intra-arterial infusion has no code: unlisted 96379",
    PUMP_START: "The start of a prolonged pump infusion (more than 8 h): 96416/96425, not ranked",
    PUMP_G0498: "G0498 for a portable pump the facility supplies, never an implanted one "
    "(policy facility_pump_code)",
    INTRALESIONAL: "Intralesional chemotherapy: one service per session, 96405 (up to 7 "
    "lesions) or 96406",
    INTO_A_SPACE: "Intrathecal, ventricular reservoir, pleural and peritoneal chemotherapy",
    PORT_IRRIGATION: "96523 only when port irrigation is the sole service",
    MOD_SECOND_SITE: "59/XU/XS on a second medically necessary site's initial service",
    MOD_SECOND_ENCOUNTER: "59/XE on a second encounter's initial service the same day",
    MOD_SCOPE: "The distinct modifier on every line (policy distinct_modifier_scope=all)",
    ONE_LINE_PER_CODE: "One claim line per code, date and modifiers, its units summed",
    DRUG_BILLING_UNITS: "HCPCS drug units: ceil(dose / billing unit) after conversion",
    DRUG_JW: "JW line for the amount wasted from a single-dose container",
    DRUG_JZ: "JZ on the line when no waste from a single-dose container is charted",
    DRUG_DAY_TOTAL: "One drug line per HCPCS code, date of service, modifier and NDC: the doses "
    "summed, then rounded up once",
}

# The checks: each finding's `rule`.
CHECKS: dict[str, str] = {
    "RAC-1": "Hydration has a hydration order",
    "RAC-2": "Every fluid states its purpose",
    "RAC-3": "A hydration order carries an indication",
    "RAC-4": "Every vascular administration names its site; a second site documents why",
    "RAC-5": "A flush between different drugs on one site",
    "RAC-6": "Overlapping infusions on one site: one bag or separate bags",
    "RAC-7": "Every infusion has start and stop; every pause both ends",
    "RAC-8": "EMS-started: marked, and the arrival time charted",
    "RAC-9": "The change to observation is charted; the encounter stays one",
    "DOC-1": "Every administration traces to an order with drug, dose, route and indication",
    "DOC-2": "A stop time exactly the ordered duration is confirmed",
    "DOC-3": "Times are plausible",
    "DOC-4": "Each drug is tagged with a class by a pharmacist",
    "DOC-5": "Hydration runs at least 31 minutes by itself",
    "DOC-6": "Every order is given, or documented as not given, held or refused with a reason",
    "DOC-VOLUME": "The volume infused agrees with the charted minutes at the charted rates",
    "CODING-OFFICE": "Office visit: the hierarchy chose the initial service, not the flag",
    "CODING-CONCURRENT-CHEMO": "No concurrent chemotherapy code: not coded, the coder decides",
    "CODING-UNLISTED": "An unlisted code needs the procedure note",
    "CODING-LESIONS": "The number of lesions is not charted",
    "CODING-ROUTE": "A route or cavity outside the codes, or not said",
    "EDIT-ADDON": "An add-on without a primary it may be reported with",
    "EDIT-96368": "96368 at most once per encounter",
    "EDIT-96369": "96369 at most once per encounter",
    "EDIT-96371": "96371 at most once per encounter",
    "EDIT-96523": "96523 only as the sole service",
    "EDIT-MUE": "Units above the per-day MUE are held",
    "EDIT-PTP": "An NCCI procedure-to-procedure pair billed together without a modifier it allows",
    "EDIT-JW-NO-DOSE": "A JW line (amount discarded) with no line of the amount given beside it",
    "EDIT-JW-JZ-BOTH": "JW and JZ on one line",
    "EDIT-JW-JZ-MULTI-DOSE": "JW or JZ on a drug from a multi-dose container",
    "EDIT-INFUSION-TIME": "A coder's infusion code the charted time of its administrations does "
    "not bear out",
    "EDIT-ACCOUNT": "The visit has no account number",
    "DRUG-UNIT": "A waste amount that cannot become billing units",
    "DRUG-DOSE": "A drug billed in HCPCS units has its dose given, in a unit that becomes billing "
    "units",
    "DRUG-WASTE": "Waste not charted, or not billable for the container",
}

RULES: dict[str, str] = {**CODING_RULES, **CHECKS}
