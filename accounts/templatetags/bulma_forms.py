"""``{{ field|bulma }}``: a form field's widget with Bulma's class, for forms we do not build
ourselves (django-allauth's). Our own forms get the class from ``BulmaFormMixin`` already."""

from __future__ import annotations

from django import forms, template

register = template.Library()


@register.filter
def bulma(field: forms.BoundField):
    widget = field.field.widget
    if isinstance(
        widget, forms.CheckboxInput | forms.RadioSelect | forms.HiddenInput | forms.Select
    ):
        return field.as_widget()
    css = "textarea" if isinstance(widget, forms.Textarea) else "input"
    classes = widget.attrs.get("class", "").split()
    if css not in classes:
        classes.append(css)
    return field.as_widget(attrs={"class": " ".join(classes)})
