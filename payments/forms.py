from django import forms

from core.exceptions import DomainError
from core.money import TooPrecise, format_money, parse_major
from payments.services.refunds import REASONS, line_refund_value, lines_refunded


class RefundForm(forms.Form):
    """A refund of an order: by line (units of each line, and the shipping
    charge), the amount following from them and editable downwards; or a free
    amount when no line is chosen (a goodwill gesture). Restock per line."""

    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)
    amount = forms.CharField(
        label="Amount to refund",
        max_length=20,
        required=False,
        help_text="Leave empty to refund what the chosen lines are worth.",
    )
    reason = forms.ChoiceField(
        choices=[("", "No reason given"), *REASONS], required=False
    )

    def __init__(self, *args, order, **kwargs):
        super().__init__(*args, **kwargs)
        self.order = order
        self.lines = list(order.lines.all())
        self.refunded = lines_refunded(order)
        for line in self.lines:
            left = line.quantity - self.refunded.units.get(line.variant_id, 0)
            line.refundable_units = left
            self.fields[f"refund_{line.variant_id}"] = forms.IntegerField(
                label=f"Refund units of {line.sku}",
                min_value=0,
                max_value=left,
                required=False,
                initial=0,
            )
            self.fields[f"restock_{line.variant_id}"] = forms.IntegerField(
                label=f"Restock {line.sku}",
                min_value=0,
                max_value=line.quantity,
                required=False,
                initial=0,
            )
        self.shipping_refundable = bool(
            order.shipping_pennies and not self.refunded.shipping
        )
        if self.shipping_refundable:
            self.fields["refund_shipping"] = forms.BooleanField(
                label=f"Refund the shipping charge "
                f"({format_money(order.shipping_pennies, order.currency)})",
                required=False,
            )

    def clean_amount(self):
        raw = self.cleaned_data["amount"].strip()
        if not raw:
            return None
        try:
            pennies = parse_major(raw)
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

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        lines, shipping = self.refund_lines(), self.refund_shipping()
        amount = cleaned.get("amount")
        if not lines and not shipping:
            if amount is None:
                raise forms.ValidationError(
                    "Choose the units or the shipping charge to refund, or enter "
                    "an amount."
                )
            return cleaned
        try:
            worth = line_refund_value(
                self.order, lines, shipping, refunded=self.refunded
            )
        except DomainError as exc:
            raise forms.ValidationError(str(exc)) from exc
        if amount is None:
            cleaned["amount"] = worth
        elif amount > worth:
            self.add_error(
                "amount",
                f"The chosen lines come to "
                f"{format_money(worth, self.order.currency)}: refund at most that.",
            )
        return cleaned

    def refund_lines(self) -> dict[int, int]:
        return {
            line.variant_id: units
            for line in self.lines
            if (units := self.cleaned_data.get(f"refund_{line.variant_id}") or 0)
        }

    def refund_shipping(self) -> bool:
        return bool(self.cleaned_data.get("refund_shipping"))

    def restock(self) -> dict[int, int]:
        return {
            line.variant_id: self.cleaned_data.get(f"restock_{line.variant_id}") or 0
            for line in self.lines
        }

    def line_rows(self):
        """(line, refund field, restock field) for the form's table."""
        return [
            (
                line,
                self[f"refund_{line.variant_id}"],
                self[f"restock_{line.variant_id}"],
            )
            for line in self.lines
        ]
