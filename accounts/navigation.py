"""The main navigation: each entry is shown to whoever its access rule allows."""

from django.urls import NoReverseMatch, reverse

from accounts.access import Decision, decide, rule_for
from accounts.roles import Role

# URL names of each staff role's home; customers (and anyone else) get the shop.
ROLE_HOMES = {
    Role.ADMIN: "monitoring:issues",
    Role.OPS: "ops:queue",
    Role.ANALYST: "analyticsapp:dashboard",
}


def role_home(user) -> str:
    """Where a user lands after signing in without a `next`: their role's home."""
    return reverse(ROLE_HOMES.get(user.primary_role, "catalog:home"))


# (label, URL name). Entries whose URL does not exist yet are skipped.
MAIN_NAVIGATION = [
    ("Shop", "catalog:product_list"),
    ("Wishlist", "wishlist:list"),
    ("Cart", "orders:cart"),
    ("My orders", "orders:order_list"),
    ("Subscriptions", "subscriptions:list"),
    ("Ops", "ops:queue"),
    ("Analytics", "analyticsapp:dashboard"),
    ("Analytics", "analyticsapp:ops"),
    ("Exports", "analyticsapp:exports"),
    ("Monitoring", "monitoring:issues"),
    ("Staff", "accounts:staff"),
    ("Admin", "admin:index"),
]


def navigation_for(user, current_path: str = "") -> list[dict]:
    items, labels = [], set()
    for label, name in MAIN_NAVIGATION:
        if label in labels:  # the first entry this user may open wins
            continue
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        rule = rule_for(name)
        if rule is None or decide(rule, user) is not Decision.ALLOW:
            continue
        active = url != "/" and current_path.startswith(url)
        items.append({"label": label, "url": url, "active": active})
        labels.add(label)
    return items
