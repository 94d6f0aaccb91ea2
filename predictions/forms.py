"""Forms of the prediction pages: renaming a cluster and filtering the rules."""

from django import forms
from django.utils.translation import gettext_lazy as _


class ClusterRenameForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)


class RuleFilterForm(forms.Form):
    product = forms.CharField(label=_("Product contains"), required=False, max_length=128)
    min_support = forms.FloatField(
        label=_("Min. support"), required=False, min_value=0, max_value=1
    )
    min_confidence = forms.FloatField(
        label=_("Min. confidence"), required=False, min_value=0, max_value=1
    )
    min_lift = forms.FloatField(label=_("Min. lift"), required=False, min_value=0)
