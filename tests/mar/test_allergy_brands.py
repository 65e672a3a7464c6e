"""An allergy recorded as a beta-lactam's brand name the formulary does not hold ("Keflex",
"Augmentin", "Rocephin", "Zosyn", "Merrem") carries its class: the brand resolves to its generic
(safety.BRAND_GENERICS, FDA Orange Book / DailyMed), then the matcher's own rules (the
formulary's names, the USAN stems -cillin, cef-/ceph-, -penem) give the class, as they give the
generic's. So "Keflex (rash)" warns on cefazolin (direct: a cephalosporin) and on
piperacillin-tazobactam (the table's cross-sensitivity). A generic rule, checked over every brand
of the table, not case by case."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mar.models import Drug
from mar.services import safety

# A drug of each class, as the starter formulary gives its allergy classes (no formulary read:
# the brand is not in it).
DRUG_OF = {
    "penicillin": Drug(name="piperacillin-tazobactam", allergy_classes="penicillin; beta-lactam"),
    "cephalosporin": Drug(name="cefazolin", allergy_classes="cephalosporin; beta-lactam"),
    "carbapenem": Drug(name="meropenem", allergy_classes="carbapenem; beta-lactam"),
}
# The classes the cross-sensitivity table pairs with each.
PAIRED = {
    "penicillin": ["cephalosporin", "carbapenem"],
    "cephalosporin": ["penicillin"],
    "carbapenem": ["penicillin"],
}


def _classes(term: str) -> list[str]:
    return [carried.allergy_class for carried in safety.allergy_carried(term)]


@pytest.mark.parametrize(("brand", "generic"), sorted(safety.BRAND_GENERICS.items()))
def test_every_brand_carries_exactly_its_generics_class(brand, generic) -> None:
    """Rule: a brand resolves to its generic, and the generic's class (by the stems) is the
    brand's; every generic of the table is a beta-lactam of one of the three classes."""
    (expected,) = _classes(generic)
    assert _classes(brand) == [expected]
    assert expected in DRUG_OF


@pytest.mark.parametrize(("brand", "generic"), sorted(safety.BRAND_GENERICS.items()))
def test_every_brand_warns_directly_on_its_class_and_across_the_tables_pairs(
    brand, generic
) -> None:
    (allergy_class,) = _classes(generic)
    allergy = f"{brand.capitalize()} (rash)"
    (direct,) = safety.allergy_conflicts(allergy, DRUG_OF[allergy_class])
    assert direct.direct and direct.allergy_class == allergy_class
    if not any(stem.names(brand) for stem in safety.CLASS_STEMS):  # "Ceftin": its own stem
        assert f"brand of {generic}" in direct.said
    for other in PAIRED[allergy_class]:
        (cross,) = safety.allergy_conflicts(allergy, DRUG_OF[other])
        assert not cross.direct and (cross.cross_from, cross.allergy_class) == (
            allergy_class,
            other,
        )


def test_keflex_warns_on_cefazolin_directly_and_on_piperacillin_as_a_cross_sensitivity() -> None:
    on_cefazolin = safety.allergy_sentence(
        safety.allergy_conflicts("Keflex (rash)", DRUG_OF["cephalosporin"])
    )
    assert on_cefazolin == (
        "Allergy: Keflex (rash) is a cephalosporin (brand of cephalexin, by its stem ceph-), "
        "as is cefazolin (cephalosporin class)."
    )
    on_zosyn = safety.allergy_sentence(
        safety.allergy_conflicts("Keflex (rash)", DRUG_OF["penicillin"])
    )
    assert on_zosyn == (
        "Cross-sensitivity: patient allergic to Keflex (rash), a cephalosporin (brand of "
        "cephalexin, by its stem ceph-); piperacillin-tazobactam is a penicillin — low but real "
        "cross-reactivity."
    )


def test_a_brand_in_the_formulary_says_its_formulary_drug() -> None:
    """Where the formulary holds the generic, its classes come first (as for the generic)."""
    formulary = (
        safety.FormularyDrug(
            "piperacillin-tazobactam", ("piperacillin-tazobactam",), ("penicillin", "beta-lactam")
        ),
    )
    carried = safety.allergy_carried("zosyn", formulary)
    assert [(c.allergy_class, c.said("zosyn")) for c in carried] == [
        ("penicillin", "brand of piperacillin-tazobactam, in the formulary"),
        ("beta-lactam", "brand of piperacillin-tazobactam, in the formulary"),
    ]


@pytest.mark.parametrize("term", ["keflexx", "rocephine", "ancefs", "unmerrem", "tylenol"])
def test_a_brand_counts_only_as_a_whole_word(term) -> None:
    assert safety.brand_generics(term) == []


REACTIONS = st.sampled_from(["", " (rash)", " (hives)", " allergy", " (anaphylaxis 2019)"])


@given(
    brand=st.sampled_from(sorted(safety.BRAND_GENERICS)),
    upper=st.lists(st.booleans(), min_size=12, max_size=12),
    reaction=REACTIONS,
)
def test_a_brand_as_recorded_any_case_any_reaction_carries_its_generics_class(
    brand, upper, reaction
) -> None:
    """Property: however the brand is written (case, the reaction after it), the allergy reads
    the generic's class and warns on a drug of it."""
    written = "".join(c.upper() if up else c for c, up in zip(brand, upper * 2, strict=False))
    (term,) = safety.allergy_terms(written + reaction)
    (expected,) = _classes(safety.BRAND_GENERICS[brand])
    assert _classes(term) == [expected]
    assert safety.allergy_conflicts(written + reaction, DRUG_OF[expected])
