"""`seed_demo`: a realistic, deterministic shop produced through the real services.

Idempotent: running it again on a seeded database adds nothing. Each later feature
adds a step here, so `make demo` always opens on a living shop.
"""

import random
from dataclasses import dataclass, field

from accounts.models import User
from accounts.roles import Role
from accounts.services import user_create

DEMO_PASSWORD = "purelaka-demo"  # noqa: S105 - printed for the demo on purpose
DEMO_LOGINS = [
    ("admin@purelaka.test", "Ada Admin", Role.ADMIN),
    ("ops@purelaka.test", "Oscar Ops", Role.OPS),
    ("analyst@purelaka.test", "Anya Analyst", Role.ANALYST),
    ("customer@purelaka.test", "Cora Customer", Role.CUSTOMER),
]
FIRST_NAMES = [
    "Amelia",
    "Oliver",
    "Isla",
    "George",
    "Ava",
    "Noah",
    "Mia",
    "Arthur",
    "Ivy",
    "Leo",
    "Freya",
    "Oscar",
    "Lily",
    "Harry",
    "Grace",
    "Jack",
    "Sophia",
    "Theo",
    "Rosie",
    "Finley",
    "Evie",
    "Alfie",
    "Poppy",
    "Charlie",
    "Willow",
    "Henry",
]
LAST_NAMES = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Khan",
    "Clarke",
    "Lewis",
    "Young",
    "Ahmed",
    "Hughes",
]


@dataclass
class SeedReport:
    created: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, n: int = 1):
        self.created[what] = self.created.get(what, 0) + n


def seed_users(rng: random.Random, report: SeedReport, customers: int) -> list[User]:
    for email, name, role in DEMO_LOGINS:
        if not User.objects.filter(email=email).exists():
            user_create(
                email=email, password=DEMO_PASSWORD, full_name=name, roles=[role]
            )
            report.add("demo logins")
    people = []
    for i in range(customers):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first}.{last}.{i}@example.com".lower()
        user = User.objects.filter(email=email).first()
        if user is None:
            user = user_create(
                email=email,
                password=None,
                full_name=f"{first} {last}",
                roles=[Role.CUSTOMER],
            )
            report.add("customers")
        people.append(user)
    return people


def seed_demo(*, seed: int = 42, customers: int = 60) -> SeedReport:
    rng = random.Random(seed)
    report = SeedReport()
    seed_users(rng, report, customers)
    return report
