import getpass

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from payments.services.anonymise import (
    AnonymisationRefused,
    customer_anonymisation_plan,
    customer_anonymise,
    customer_erasure_prepare,
)


class Command(BaseCommand):
    help = (
        "Scrub a customer's personal data on request, keeping the books "
        "(docs/data_governance.md); audited. --dry-run says what would change."
    )

    def add_arguments(self, parser):
        parser.add_argument("email", help="the customer's email address")
        parser.add_argument(
            "--dry-run", action="store_true", help="print the changes, write nothing"
        )
        parser.add_argument(
            "--cancel-subscriptions",
            action="store_true",
            help="cancel the customer's live subscriptions in Stripe first",
        )

    def handle(self, *args, email, dry_run, cancel_subscriptions, **options):
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"no user with the email {email!r}")
        try:
            if cancel_subscriptions and not dry_run:
                for name, count in customer_erasure_prepare(user=user).items():
                    self.stdout.write(f"  {name}: {count} canceled in Stripe first")
            if dry_run:
                plan = customer_anonymisation_plan(user=user)
            else:
                plan = customer_anonymise(
                    user=user, actor_label=f"cli:{getpass.getuser()}"
                )
        except AnonymisationRefused as exc:
            raise CommandError(f"refused: {exc}") from exc
        verb = "would anonymise" if dry_run else "anonymised"
        change = "to change" if dry_run else "changed"
        orders = ", ".join(plan.order_numbers) or "none"
        self.stdout.write(
            f"{verb} customer #{plan.user_id} as {plan.anonymised_email}\n"
            f"  user {change}: email replaced, name cleared, password unusable, "
            "inactive\n"
            f"  orders {change}: {len(plan.order_numbers)} ({orders}): email "
            "replaced, shipping name and street cleared, postcode cut to its "
            "outward code\n"
            f"  Stripe event payloads {change}: {len(plan.stripe_event_ids)}\n"
            f"  login records {'to delete' if dry_run else 'deleted'}: "
            f"{plan.login_records}\n"
            f"  saved addresses {'to delete' if dry_run else 'deleted'}: "
            f"{plan.saved_addresses}\n"
            f"  kept as they are: {plan.wishlist_items_kept} wishlist item(s), "
            "payments, refunds, disputes, order amounts and dates; audit rows "
            "keep who did what and when, without the person"
        )
        if dry_run:
            self.stdout.write("dry run: nothing was written")
        else:
            self.stdout.write(
                self.style.SUCCESS("done; audited as accounts.customer_anonymised")
            )
