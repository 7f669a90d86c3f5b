from django import forms


class MoveToCartForm(forms.Form):
    """The variant chosen on the wishlist row; absent for a one-variant product."""

    variant = forms.IntegerField(required=False, min_value=1)
