from django.forms.renderers import TemplatesSetting


class ParleyFormRenderer(TemplatesSetting):
    """Every form field renders through templates/forms/field.html: label, input, help, errors."""

    field_template_name = "forms/field.html"
