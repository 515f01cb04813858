from django import template

from agents.choices import provider_label

register = template.Library()


@register.filter
def provider_name(value: str) -> str:
    """An agent's provider value by the name the form and the Providers page use."""
    try:
        return provider_label(value)
    except KeyError:  # a value stored before Parley knew it: shown as stored
        return value
