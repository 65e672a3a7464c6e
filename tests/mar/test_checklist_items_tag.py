"""Issue 19: the live checklist's groups and items are written in Python
(`{% checklist_groups %}`). Read back with an HTML parser, they say what the template's loop said:
one group per administration (a link to its card when it has one), one line per finding with its
rule, severity, the place to fix it, who acknowledged it and why, every text escaped."""

from html.parser import HTMLParser
from types import SimpleNamespace

from coding.engine import Finding
from mar.chart_context import Checklist, Group, Item
from mar.jinja import partial_render
from mar.templatetags.checklist_items import checklist_groups


class _Lines(HTMLParser):
    """The checklist's groups: titles, and each line's attributes and text."""

    def __init__(self) -> None:
        super().__init__()
        self.groups: list[dict] = []
        self._in: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "div" and attrs.get("class") == "ck-group":
            self.groups.append({"title": "", "title_href": None, "items": []})
        elif tag == "li":
            self.groups[-1]["items"].append({**attrs, "text": "", "ack": "", "href": None})
        elif tag == "a" and self._in and self._in[-1] == "h3":
            self.groups[-1]["title_href"] = attrs["href"]
        elif tag == "a" and self.groups and self.groups[-1]["items"]:
            self.groups[-1]["items"][-1]["href"] = attrs["href"]
        self._in.append(tag if tag != "a" else (self._in[-1] if self._in else "a"))

    def handle_endtag(self, tag):
        self._in.pop()

    def handle_data(self, data):
        where = self._in[-1] if self._in else ""
        if where == "h3":
            self.groups[-1]["title"] += data
        elif where in ("li", "span") and self.groups[-1]["items"]:
            self.groups[-1]["items"][-1]["text"] += data
        elif where == "div" and self.groups and self.groups[-1]["items"]:
            self.groups[-1]["items"][-1]["ack"] += data


def _checklist() -> Checklist:
    overlap = Finding("RAC-6", "error", 'Overlaps <A2> & "A3"', ("A1", "A2"), "stop")
    flush = Finding("RAC-5", "warning", "No flush charted on S1", ("A1",), "flushes")
    visit = Finding("DOC-2", "error", "Observation end missing", (), "observation_end")
    ack = SimpleNamespace(by=SimpleNamespace(get_username=lambda: "n<urse>"), reason="known & ok")
    return Checklist(
        groups=[
            Group(
                title="A1 paclitaxel <chemo>",
                anchor="adm-1",
                items=[
                    Item(overlap, "k1", "adm-1-stop", acknowledgement=ack),
                    Item(flush, "k2", "site-1"),
                ],
            ),
            Group(title="The visit", anchor="", items=[Item(visit, "k3", "encounter-times")]),
        ]
    )


def test_each_group_and_line_says_what_the_finding_says_and_where_to_fix_it():
    parsed = _Lines()
    parsed.feed(str(checklist_groups(_checklist())))
    first, visit = parsed.groups
    assert first["title"] == "A1 paclitaxel <chemo>"  # text, not markup
    assert first["title_href"] == "#adm-1"
    assert visit["title"] == "The visit" and visit["title_href"] is None
    overlap, flush = first["items"]
    assert overlap["class"] == "ck-item ck-error ck-acked"
    assert overlap["data-rule"] == "RAC-6" and overlap["data-testid"] == "checklist-item"
    assert overlap["href"] == "#adm-1-stop"
    assert overlap["text"].strip() == 'RAC-6 Overlaps <A2> & "A3"'
    assert overlap["ack"].strip() == "Acknowledged by n<urse>: known & ok"
    assert flush["class"] == "ck-item ck-warning" and flush["ack"].strip() == ""
    assert flush["href"] == "#site-1"
    assert [item["data-rule"] for item in visit["items"]] == ["DOC-2"]


def test_no_group_no_markup_and_the_panel_says_nothing_is_open():
    assert str(checklist_groups(Checklist(groups=[]))) == ""
    html = partial_render(
        None, "mar/_checklist.jinja", {"checklist": Checklist(groups=[]), "encounter": {"pk": 1}}
    )
    assert 'data-testid="checklist-clear"' in html


def test_the_panel_holds_the_groups_and_not_the_clear_line_when_something_is_open():
    html = partial_render(
        None, "mar/_checklist.jinja", {"checklist": _checklist(), "encounter": {"pk": 1}}
    )
    assert html.count('data-testid="checklist-item"') == 3
    assert 'data-testid="checklist-clear"' not in html


def test_a_cards_findings_are_lines_linking_where_each_is_fixed_and_acknowledged_ones_marked():
    from mar.templatetags.checklist_items import finding_lines

    items = [item for group in _checklist().groups for item in group.items][:2]
    parsed = _Lines()
    parsed.feed('<div class="ck-group"><h3></h3>' + str(finding_lines(items)) + "</div>")
    overlap, flush = parsed.groups[0]["items"]
    assert overlap["class"] == "ck-error ck-acked" and overlap["href"] == "#adm-1-stop"
    assert overlap["text"].strip() == 'RAC-6 Overlaps <A2> & "A3"'  # text, not markup
    assert flush["class"] == "ck-warning" and flush["href"] == "#site-1"
