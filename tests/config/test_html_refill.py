"""config/html_refill.py: what was typed goes back into the marked form that posts where it was
posted, field by field, and nothing else of the page changes; a password, a file and the CSRF
token are never filled."""

from config.html_refill import form_refill

PAGE = """<html><body><div id="messages"></div>
<form method="post" action="/search/" data-session-check><input name="q" value=""></form>
<details><summary>Correct</summary>
<form method="post" action="/save/?from=chart" data-session-check>
  <input type="hidden" name="csrfmiddlewaretoken" value="FRESH">
  <input type="hidden" name="entry_key" value="new-key">
  <input type="text" name="dose" value="" class="form-control">
  <input type="password" name="pin">
  <input type="file" name="scan">
  <select name="basis"><option value="flat" selected>flat</option>\
<option value="per_m2">per m²</option></select>
  <select name="site"><option>left arm</option><option>right arm</option></select>
  <select name="tags" multiple><option value="a">A</option><option value="b">B</option>\
<option value="c">C</option></select>
  <input type="checkbox" name="verbal" checked>
  <input type="checkbox" name="urgent">
  <input type="radio" name="route" value="iv"><input type="radio" name="route" value="po" checked>
  <textarea name="reason" rows="2">
old</textarea>
  <input type="text" name="later" value="drawn since">
  <button type="submit" name="go" value="1">Save</button>
</form>
</details>
<form method="post" action="/save/"><input name="dose" value=""></form>
</body></html>"""

TYPED = [
    ("csrfmiddlewaretoken", ["STALE"]),
    ("entry_key", ["typed-key"]),
    ("dose", ['85 "mg" <b>']),
    ("pin", ["1234"]),
    ("basis", ["per_m2"]),
    ("site", ["right arm"]),
    ("tags", ["a", "c"]),
    ("urgent", ["on"]),
    ("route", ["iv"]),
    ("reason", ["pump log:\n<stopped> at 11:40 & restarted"]),
    ("go", ["1"]),
]


def refilled() -> str:
    done = form_refill(PAGE, page="/save/?from=chart", post="/save/?from=chart", fields=TYPED)
    assert done is not None and done.typed_shown
    return done.page


def test_text_hidden_and_textarea_fields_get_what_was_typed_escaped() -> None:
    page = refilled()
    assert 'name="dose" value="85 &quot;mg&quot; &lt;b&gt;" class="form-control"' in page
    assert 'name="entry_key" value="typed-key"' in page  # the form's own key: entered once
    assert (
        '<textarea name="reason" rows="2">\npump log:\n'
        "&lt;stopped&gt; at 11:40 &amp; restarted</textarea>" in page
    )


def test_the_csrf_token_a_password_and_a_file_are_never_filled() -> None:
    page = refilled()
    assert 'value="FRESH"' in page and "STALE" not in page
    assert '<input type="password" name="pin">' in page and "1234" not in page
    assert '<input type="file" name="scan">' in page


def test_selects_checkboxes_and_radios_are_as_posted() -> None:
    page = refilled()
    assert '<option value="flat">flat</option><option value="per_m2" selected>' in page
    assert "<option>left arm</option><option selected>right arm</option>" in page
    assert (
        '<option value="a" selected>A</option><option value="b">B</option>'
        '<option value="c" selected>' in page
    )
    assert '<input type="checkbox" name="verbal">' in page  # not posted: it was unchecked
    assert '<input type="checkbox" name="urgent" checked>' in page
    assert (
        '<input type="radio" name="route" value="iv" checked>'
        '<input type="radio" name="route" value="po">' in page
    )


def test_a_field_not_posted_and_the_buttons_stay_as_the_page_draws_them() -> None:
    page = refilled()
    assert '<input type="text" name="later" value="drawn since">' in page
    assert '<button type="submit" name="go" value="1">Save</button>' in page


def test_only_the_marked_form_posting_there_is_filled_and_its_fold_opened() -> None:
    page = refilled()
    assert '<input name="q" value="">' in page  # another form
    assert '<form method="post" action="/save/"><input name="dose" value=""></form>' in page
    assert "<details open><summary>Correct</summary>" in page
    # Everything outside the edits is as rendered.
    assert page.startswith(
        '<html><body><div id="messages"></div>\n<form method="post" action="/search/"'
    )


def test_no_form_posting_there_gives_nothing() -> None:
    assert form_refill(PAGE, page="/save/", post="/elsewhere/", fields=TYPED) is None


def test_an_unmarked_form_posting_there_is_filled_when_no_marked_one_does() -> None:
    """The chart's card and care forms carry no data-session-check (JavaScript sends them by
    htmx); without JavaScript they post plainly, and what was typed comes back into them."""
    done = form_refill(PAGE, page="/save/", post="/save/", fields=TYPED)
    assert done is not None
    filled = '<input name="dose" value="85 &quot;mg&quot; &lt;b&gt;">'
    assert f'<form method="post" action="/save/">{filled}</form>' in done.page
    # a form that does not post (a search) is never filled
    page = '<form action="/find/"><input name="q" value=""></form>'
    assert form_refill(page, page="/", post="/find/", fields=[("q", ["x"])]) is None


def test_a_form_without_an_action_posts_to_its_page() -> None:
    page = '<form method="post" data-session-check><input name="payer" value="x"></form>'
    done = form_refill(page, page="/policy/", post="/policy/", fields=[("payer", ["Aetna"])])
    assert done is not None and done.page == (
        '<form method="post" data-session-check><input name="payer" value="Aetna"></form>'
    )


def test_of_several_forms_posting_there_the_one_holding_the_fields_is_filled() -> None:
    page = (
        '<form method="post" action="/r/" data-session-check><input name="go" value=""></form>'
        '<form method="post" action="/r/" data-session-check>'
        '<textarea name="why"></textarea></form>'
    )
    done = form_refill(page, page="/p/", post="/r/", fields=[("why", ["patient left"])])
    assert done is not None and done.page == (
        '<form method="post" action="/r/" data-session-check><input name="go" value=""></form>'
        '<form method="post" action="/r/" data-session-check>'
        '<textarea name="why">\npatient left</textarea></form>'
    )


def test_a_form_of_buttons_only_has_nothing_typed_to_show() -> None:
    """Claim, Accept, Release: only the hidden fields and the button were posted."""
    page = (
        '<form method="post" action="/claim/" data-session-check>'
        '<input type="hidden" name="next" value="/w/"><button>Claim</button></form>'
    )
    done = form_refill(page, page="/w/", post="/claim/", fields=[("next", ["/w/"])])
    assert done is not None and not done.typed_shown
