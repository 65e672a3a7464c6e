"""HL7 v2 in over MLLP: registration (ADT^A04/A08/A03/A11) and pharmacy orders (RDE^O11, ORM^O01:
ORC-1 NW new, XO change, CA cancel, DC discontinue, each naming the order by its placer number).

`mllp.py` is the listener (`manage.py hl7_listen`), `inbound.py` turns one message into records
through the same services as the clerk's screens (mar/registration/services.py) and answers it
with an ACK; `models.py` is the interface log, `views.py` its screen.
"""
