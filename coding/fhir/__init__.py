"""The FHIR R4 API (plain Django views): read and search Patient, Encounter, MedicationRequest,
MedicationAdministration and ChargeItem; import a transaction Bundle charted in another EHR and
code it. Authenticated by per-integration API tokens with scopes; every call is logged (ApiCall).

`resources.py` builds the resources (validated with fhir.resources), `search.py` the searches,
`importer.py` the Bundle import, `auth.py` the tokens, `views.py` the endpoints.
"""
