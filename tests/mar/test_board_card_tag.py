"""`{% board_card %}` (mar/templatetags/board.py): a visit's card on the board as a nurse reads
it: where, who, the state, the open checklist items (none on a signed visit), what runs or is
paused and for how long, the coder's query; what the record holds is escaped."""

from types import SimpleNamespace

from mar.templatetags.board import board_card


def _card(**overrides):
    encounter = SimpleNamespace(
        pk=7,
        location_label="Chair 3",
        is_signed=False,
        coder_query=False,
        patient=SimpleNamespace(name="Ada <b>Lovelace</b>", mrn="M-1"),
    )
    card = {"encounter": encounter, "state": "items missing", "open_items": 2, "open_errors": 1}
    card["running"] = [("cisplatin", 42, False), ("saline", 5, True)]
    card.update(overrides)
    return card


def test_a_card_links_to_the_chart_and_says_where_who_and_the_state() -> None:
    html = board_card(_card())
    assert 'href="/mar/encounters/7/"' in html
    assert '<span class="board-chair">Chair 3</span>' in html
    assert 'class="card board-card board-items-missing' in html
    state = '<span class="badge state-items-missing" data-testid="state">Items missing</span>'
    assert state in html
    assert "Ada &lt;b&gt;Lovelace&lt;/b&gt;" in html and "<b>" not in html
    assert "MRN M-1" in html


def test_open_items_are_counted_red_with_an_error_and_amber_without() -> None:
    assert '<span class="badge text-bg-danger">2</span> open checklist items' in board_card(_card())
    one = board_card(_card(open_items=1, open_errors=0))
    assert '<span class="badge text-bg-warning">1</span> open checklist item<' in one
    assert "Checklist clear" in board_card(_card(open_items=0, open_errors=0))


def test_what_runs_and_what_is_paused_with_its_minutes() -> None:
    html = board_card(_card())
    assert '<div class="mt-1">Running: cisplatin, 42 min</div>' in html
    assert '<div class="mt-1">Paused: saline, 5 min</div>' in html


def test_a_signed_visit_shows_no_checklist_and_a_coders_query_is_flagged() -> None:
    card = _card()
    card["encounter"].is_signed = True
    card["encounter"].coder_query = True
    card["encounter"].location_label = ""
    html = board_card(card)
    assert "open-items" not in html
    assert 'data-testid="coder-query-flag"' in html and "Query from coding" in html
    assert '<span class="board-chair">–</span>' in html
