"""`dates_whole` (mar/templatetags/dates.py): each date kept on one line, the rest escaped."""

from mar.templatetags.dates import dates_whole


def test_it_wraps_each_date_and_escapes_the_rest() -> None:
    text = "corrected by <b> 2026-12-06 06:20: was 2026-12-05"
    assert dates_whole(text) == (
        'corrected by &lt;b&gt; <span class="text-nowrap">2026-12-06</span> 06:20: was '
        '<span class="text-nowrap">2026-12-05</span>'
    )
