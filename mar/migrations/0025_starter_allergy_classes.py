"""The starter formulary's allergy classes on an installation that has its drugs (QA: all 71
empty, so a patient allergic to "penicillin" was started on piperacillin-tazobactam without a
word). A drug is filled only where its allergy classes are empty: a pharmacist's own are never
overwritten. Going back leaves them (a class set here cannot be told from one a pharmacist set
the same).

The classes are copied here as they were when written (mar.pharmacy.formulary
`STARTER_ALLERGY_CLASSES` is the living list, which the demo's loader fills)."""

from django.db import migrations

ALLERGY_CLASSES = {
    "carboplatin": "platinum",
    "cisplatin": "platinum",
    "oxaliplatin": "platinum",
    "paclitaxel": "taxane",
    "docetaxel": "taxane",
    "fluorouracil": "fluoropyrimidine",
    "doxorubicin": "anthracycline",
    "piperacillin-tazobactam": "penicillin; beta-lactam",
    "ceftriaxone": "cephalosporin; beta-lactam",
    "cefazolin": "cephalosporin; beta-lactam",
    "azithromycin": "macrolide",
    "gentamicin": "aminoglycoside",
    "vancomycin": "glycopeptide",
    "ketorolac": "NSAID",
    "morphine": "opioid",
    "fentanyl": "opioid",
    "lorazepam": "benzodiazepine",
    "prochlorperazine": "phenothiazine",
    "promethazine": "phenothiazine",
    "ondansetron": "5-HT3 antagonist",
    "palonosetron": "5-HT3 antagonist",
    "dexamethasone": "corticosteroid",
    "methylprednisolone": "corticosteroid",
    "diphenhydramine": "antihistamine",
    "zoledronic acid": "bisphosphonate",
    "epoetin alfa": "erythropoiesis-stimulating agent",
    "darbepoetin alfa": "erythropoiesis-stimulating agent",
    "filgrastim": "G-CSF",
    "pegfilgrastim": "G-CSF",
}


def fill_empty(apps, schema_editor):
    Drug = apps.get_model("mar", "Drug")
    for name, classes in ALLERGY_CLASSES.items():
        Drug.objects.filter(name__iexact=name, allergy_classes="").update(
            allergy_classes=classes
        )


class Migration(migrations.Migration):
    dependencies = [
        ("mar", "0024_administration_scans_at_start"),
    ]

    operations = [
        migrations.RunPython(fill_empty, migrations.RunPython.noop),
    ]
