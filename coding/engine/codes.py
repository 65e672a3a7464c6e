"""The CPT drug-administration codes the engine writes, as data (coding-rules.md §1).

A family is the column of the hierarchy a drug's class puts it in: chemotherapy and other highly
complex drugs (`chemo`, hormonal antineoplastics included for IV services), therapeutic, hydration.
"""

from __future__ import annotations

from typing import Final, Literal

from .record import DrugClass

Family = Literal["chemo", "therapeutic", "hydration"]


def family_of(drug_class: DrugClass) -> Family:
    if drug_class in ("chemo", "chemo_hormonal"):
        return "chemo"
    if drug_class == "hydration":
        return "hydration"
    return "therapeutic"


# IV services, by family.
INITIAL_INFUSION: dict[Family, str] = {"chemo": "96413", "therapeutic": "96365"}
INITIAL_PUSH: dict[Family, str] = {"chemo": "96409", "therapeutic": "96374"}
ADDITIONAL_HOUR: dict[Family, str] = {
    "chemo": "96415",
    "therapeutic": "96366",
    "hydration": "96361",
}
SEQUENTIAL_INFUSION: dict[Family, str] = {"chemo": "96417", "therapeutic": "96367"}
PUSH_OF_NEW_DRUG: dict[Family, str] = {"chemo": "96411", "therapeutic": "96375"}
CONCURRENT_INFUSION: Final = "96368"
PUSH_OF_SAME_DRUG: Final = "96376"  # facility only
HYDRATION_INITIAL: Final = "96360"
HYDRATION_ADDITIONAL: Final = "96361"

# Injections reported on their own, outside the IV hierarchy.
SQ_IM_INJECTION: dict[DrugClass, str] = {
    "chemo": "96401",
    "chemo_hormonal": "96402",
    "therapeutic": "96372",
}
INTRALESIONAL_UP_TO_7: Final = "96405"
INTRALESIONAL_MORE_THAN_7: Final = "96406"
INTRALESIONAL_MAX_LESIONS_FOR_96405 = 7
INTRATHECAL: Final = "96450"
VENTRICULAR_RESERVOIR: Final = "96542"
PLEURAL_CAVITY: Final = "96440"
PERITONEAL_CAVITY: Final = "96446"

# SQ infusions and intra-arterial services: their own access, their own initial codes.
SQ_INFUSION_INITIAL: Final = "96369"
SQ_INFUSION_ADDITIONAL_HOUR: Final = "96370"
SQ_INFUSION_NEW_SITE: Final = "96371"
IA_PUSH: dict[Family, str] = {"chemo": "96420", "therapeutic": "96373"}
IA_INFUSION_INITIAL: Final = "96422"  # chemotherapy
IA_INFUSION_ADDITIONAL_HOUR: Final = "96423"
UNLISTED_INJECTION_OR_INFUSION: Final = "96379"  # therapeutic, IV or intra-arterial

# Prolonged infusions started with a pump, and port irrigation.
PUMP_START_IV: Final = "96416"
PUMP_START_IA: Final = "96425"
PORT_IRRIGATION: Final = "96523"

# Codes CPT allows once per encounter ("96368 ... once per encounter"; "Use 96369, 96371 only once
# per encounter"), with the words the edit uses.
ONCE_PER_ENCOUNTER: dict[str, str] = {
    CONCURRENT_INFUSION: "concurrent infusion",
    SQ_INFUSION_INITIAL: "initial SQ infusion",
    SQ_INFUSION_NEW_SITE: "additional SQ pump set-up",
}
DRUG_ADMINISTRATION_CODES = frozenset({f"{n}" for n in range(96360, 96550)} | {"G0498"}) - {
    PORT_IRRIGATION
}

# Reasons written on a second site that CPT/NCCI say do not make it medically necessary
# (coding-rules.md §3: a restarted IV, in whatever words; a second lumen of the same catheter; a
# convenience line). "Lumen" alone is not enough: "incompatible, could not share a lumen" is a
# reason.
NOT_A_SEPARATE_SITE_REASON = (
    "restart", "re-start", "infiltrat", "dislodg", "occlu", "pulled", "blown", "clotted",
    "second lumen", "other lumen", "another lumen", "same catheter", "double lumen",
    "dual lumen", "triple lumen", "convenien", "easier",
)  # fmt: skip

# Add-on codes and the services each may be reported with (CPT parentheticals), for the edits.
ADD_ON_PRIMARIES: dict[str, frozenset[str]] = {
    "96361": frozenset({"96360", "96365", "96374", "96409", "96413", "96422"}),
    "96366": frozenset({"96365", "96367"}),
    "96367": frozenset({"96365", "96374", "96409", "96413"}),
    "96368": frozenset({"96365", "96366", "96413", "96415", "96416"}),
    "96370": frozenset({"96369"}),
    "96371": frozenset({"96369"}),
    "96375": frozenset({"96365", "96374", "96409", "96413"}),
    "96376": frozenset({"96360", "96365", "96374", "96409", "96413"}),
    "96411": frozenset({"96409", "96413"}),
    "96415": frozenset({"96413", "96417"}),
    "96417": frozenset({"96413"}),
    "96423": frozenset({"96422"}),
}
