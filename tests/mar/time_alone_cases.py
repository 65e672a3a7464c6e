"""What a time field accepts as a time alone, and what it refuses, shared by the server's tests
(tests/mar/test_time_alone.py) and the browser's (tests/browser/test_time_alone.py): the server
(mar.forms.LocalTimeField) and the hint typed against (static/js/chart.js) read the same forms."""

# typed -> the wall-clock time it is read as (today, or yesterday near midnight)
ALONE = {"08:28": "08:28", "8:28": "08:28", "0828": "08:28", "23:59": "23:59", "00:00": "00:00"}
# Refused by both: a 3-digit or 5-digit number (828 is 8:28 or 82:8?), minutes in one digit,
# an hour or a minute off the clock, a 12-hour time.
NOT_READ = ["828", "08280", "8:5", "24:00", "2400", "08:60", "8:28 PM", "8.28", "noon"]
