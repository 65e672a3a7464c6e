"""A chart form built only when read (mar/lazy_forms.py, issue 19): a kept card or order row is
not drawn, so its forms must not be built; one that is drawn reads the same form throughout."""

from django import forms

from mar.lazy_forms import built, is_bound, lazy


class Small(forms.Form):
    name = forms.CharField(label="Name", required=False)


def test_a_lazy_form_is_built_at_its_first_read_and_only_once() -> None:
    made = []

    def build() -> Small:
        made.append(1)
        return Small(prefix="x", initial={"name": "kept"})

    form = lazy(build)
    assert not built(form) and made == []
    assert not is_bound(form)  # asking does not build it
    assert form["name"].value() == "kept"
    assert form.prefix == "x" and form["name"].html_name == "x-name"
    assert [field.name for field in form] == ["name"]
    assert built(form) and made == [1]


def test_a_form_the_nurse_sent_is_bound_and_a_lazy_one_never() -> None:
    assert is_bound(Small(data={"name": "typed"}))
    assert not is_bound(Small())
    assert not is_bound(None)
    assert not is_bound(lazy(lambda: Small(data={"name": "typed"})))
