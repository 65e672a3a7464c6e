"""A card's autosave, as the browser tests drive it: type into a card's field and leave it (its
change sends the save), wait until the card says it is saved, hold or fail the first save.

A save runs the engine on the whole record: on a loaded 2-core CI machine it has taken over
Playwright's default 5 s, hence `SAVE_WAIT`.
"""

from collections.abc import Callable

SAVE_WAIT = 20_000  # ms


def unfold(page, adm_pk: int) -> None:
    """Open the card's fields (a folded card shows none)."""
    if not page.locator(f"#id_a{adm_pk}-bag").is_visible():
        page.locator(f"#adm-{adm_pk} details.adm-edit > summary").click()


def save_state(page, adm_pk: int):
    """The card's save line ("Saved 10:42", "Not saved: …")."""
    return page.locator(f"#adm-{adm_pk} [data-testid=save-state]")


def type_into_card(page, adm_pk: int, field: str, value: str):
    """Unfold the card, type `value` into its `field` (the form field's name: "bag") and leave
    it with Tab: the change sends the autosave (a start waits for its stop, the two saved
    together: Tab goes on to the stop and leaves it too). Returns the card's save line."""
    unfold(page, adm_pk)
    page.fill(f"#id_a{adm_pk}-{field}", value)
    page.press(f"#id_a{adm_pk}-{field}", "Tab")
    if field == "start":
        page.press(f"#id_a{adm_pk}-stop", "Tab")  # leaving the pair sends them
    return save_state(page, adm_pk)


def wait_until_saved(page, adm_pk: int):
    """Wait until the card's save line says "Saved"; returns the line."""
    from playwright.sync_api import expect

    state = save_state(page, adm_pk)
    expect(state).to_contain_text("Saved", timeout=SAVE_WAIT)
    return state


def type_and_wait_until_saved(page, adm_pk: int, field: str, value: str):
    """`type_into_card`, then `wait_until_saved`: the value typed, sent and saved."""
    type_into_card(page, adm_pk, field, value)
    return wait_until_saved(page, adm_pk)


def route_first_save(page, adm_pk: int, first: Callable[[object], None] | None = None) -> list:
    """The card's first save goes to `first` (abort it, answer it 500); with none, it is held
    until the test answers it. Every later save goes through. Returns the first save's route
    (in a list, empty until it is sent)."""
    routes: list = []

    def handle(route) -> None:
        if routes:
            route.continue_()
            return
        routes.append(route)
        if first is not None:
            first(route)

    page.route(f"**/administrations/{adm_pk}/", handle)
    return routes
