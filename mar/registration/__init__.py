"""The front door inside the app: registering patients, opening visits, entering orders.

The same services (`services.py`) serve the clerk's screens, the HL7 listener (mar/hl7/) and the
FHIR import (coding/fhir/), so a bad MRN or an unknown drug is refused the same way everywhere.
"""
