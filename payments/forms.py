from django import forms

from core.money import TooPrecise, parse_major
from payments.services.refunds import REASONS


class RefundForm(forms.Form):
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)
    amount = forms.CharField(label="Amount to refund", max_length=20)
    reason = forms.ChoiceField(
        choices=[("", "No reason given"), *REASONS], required=False
    )

    def __init__(self, *args, lines=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = list(lines)
        for line in self.lines:
            self.fields[f"restock_{line.variant_id}"] = forms.IntegerField(
                label=f"Restock {line.sku}",
                min_value=0,
                max_value=line.quantity,
                required=False,
                initial=0,
            )

    def clean_amount(self):
        try:
            pennies = parse_major(self.cleaned_data["amount"])
        except TooPrecise as exc:
            raise forms.ValidationError(
                "Enter the amount to the penny, such as 12.50 (no more than two "
                "decimal places)."
            ) from exc
        except ValueError as exc:
            raise forms.ValidationError("Enter an amount such as 12.50.") from exc
        if pennies <= 0:
            raise forms.ValidationError("Enter an amount above zero.")
        return pennies

    def restock(self) -> dict[int, int]:
        return {
            line.variant_id: self.cleaned_data.get(f"restock_{line.variant_id}") or 0
            for line in self.lines
        }

    def restock_fields(self):
        return [self[f"restock_{line.variant_id}"] for line in self.lines]
