"""Stock: the movement ledger, reservations, and the sale decrement.

Every change of `Variant.stock_on_hand` goes through `_move`, which writes the
movement row and changes the counter with F() in the same transaction, so stock on
hand always equals the sum of its movements. Rows are locked in primary-key order.
"""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from audit.services import audit_record
from catalog.models import StockMovement, StockReservation, Variant
from core.exceptions import DomainError

Reason = StockMovement.Reason


@dataclass(frozen=True)
class Shortfall:
    variant_id: int
    sku: str
    name: str
    requested: int
    available: int

    def message(self) -> str:
        if self.available <= 0:
            return f"{self.name} is no longer available."
        return (
            f"Only {self.available} of {self.name} left "
            f"(you asked for {self.requested})."
        )


class StockUnavailable(DomainError):
    """Not enough available stock for a reservation; `shortfalls` says which."""

    def __init__(self, shortfalls: list[Shortfall]):
        self.shortfalls = shortfalls
        super().__init__(" ".join(s.message() for s in shortfalls))


def reservation_minutes() -> int:
    return settings.STOCK_RESERVATION_MINUTES


def _lock_variants(variant_ids) -> dict[int, Variant]:
    rows = (
        Variant.objects.select_for_update(of=("self",))
        .select_related("product")
        .filter(pk__in=sorted(set(variant_ids)))
        .order_by("pk")
    )
    return {v.pk: v for v in rows}


def _holds_no_stock(variant: Variant) -> bool:
    """Preorder items are sold before stock exists; subscriptions have none."""
    return variant.product.is_preorder or variant.product.is_subscription


def _held_per_variant(reservations) -> dict[int, int]:
    rows = reservations.values("variant_id").annotate(total=Sum("quantity"))
    return {r["variant_id"]: r["total"] for r in rows}


def reserved_quantities(
    variant_ids, *, now: dt.datetime | None = None
) -> dict[int, int]:
    """Units held by active, unexpired reservations, per variant."""
    return _held_per_variant(
        StockReservation.objects.holding(now=now).filter(
            variant_id__in=list(variant_ids)
        )
    )


def _move(*, variant_id, delta, reason, note="", reference="", actor=None):
    StockMovement.objects.create(
        variant_id=variant_id,
        delta=delta,
        reason=reason,
        note=note,
        reference=reference,
        actor=actor,
    )
    Variant.objects.filter(pk=variant_id).update(
        stock_on_hand=F("stock_on_hand") + delta
    )


@transaction.atomic
def stock_receive(
    *, variant: Variant, quantity: int, reason=Reason.RECEIVED, note="", actor=None
) -> Variant:
    """Add received (or imported) units. Writes a movement."""
    if quantity <= 0:
        raise DomainError("Received quantity must be positive.")
    _lock_variants([variant.pk])
    _move(variant_id=variant.pk, delta=quantity, reason=reason, note=note, actor=actor)
    variant.refresh_from_db(fields=["stock_on_hand"])
    return variant


@transaction.atomic
def stock_adjust(*, variant: Variant, delta: int, note: str, actor) -> Variant:
    """A manual correction with its reason. Writes a movement and an audit row.

    Refuses a change that would take stock on hand below zero.
    """
    note = (note or "").strip()
    if not note:
        raise DomainError("Say why the stock is being adjusted.")
    if delta == 0:
        raise DomainError("An adjustment must change the stock.")
    locked = _lock_variants([variant.pk])[variant.pk]
    if locked.stock_on_hand + delta < 0:
        raise DomainError(
            f"{locked.sku} has {locked.stock_on_hand} on hand: cannot remove {-delta}."
        )
    _move(
        variant_id=locked.pk,
        delta=delta,
        reason=Reason.ADJUSTMENT,
        note=note,
        actor=actor,
    )
    audit_record(
        event_type="stock.adjusted",
        actor=actor,
        target=locked,
        metadata={
            "sku": locked.sku,
            "delta": delta,
            "before": locked.stock_on_hand,
            "after": locked.stock_on_hand + delta,
            "note": note,
        },
    )
    variant.refresh_from_db(fields=["stock_on_hand"])
    return variant


@transaction.atomic
def stock_reserve(
    *, holder: str, quantities: dict[int, int], now: dt.datetime | None = None
) -> list[StockReservation]:
    """Hold `quantities` (variant id → units) for `holder` until they expire.

    Locks the variants in primary-key order, checks available = on hand − active
    reservations, and writes one reservation per stocked variant; preorder and
    subscription items are not held. Raises StockUnavailable naming every
    shortfall; writes nothing then.
    """
    now = now or timezone.now()
    variants = _lock_variants(quantities)
    reserved = reserved_quantities(variants, now=now)
    shortfalls, holds = [], []
    for variant_id, requested in sorted(quantities.items()):
        variant = variants.get(variant_id)
        if variant is None:
            shortfalls.append(
                Shortfall(variant_id, "", "This item", requested, available=0)
            )
            continue
        if not variant.active or not variant.product.active:
            shortfalls.append(
                Shortfall(variant_id, variant.sku, str(variant), requested, available=0)
            )
            continue
        if _holds_no_stock(variant):
            continue
        available = variant.stock_on_hand - reserved.get(variant_id, 0)
        if requested > available:
            shortfalls.append(
                Shortfall(
                    variant_id, variant.sku, str(variant), requested, max(available, 0)
                )
            )
        holds.append((variant_id, requested))
    if shortfalls:
        raise StockUnavailable(shortfalls)
    expires_at = now + dt.timedelta(minutes=reservation_minutes())
    return StockReservation.objects.bulk_create(
        StockReservation(
            variant_id=variant_id, holder=holder, quantity=qty, expires_at=expires_at
        )
        for variant_id, qty in holds
    )


@transaction.atomic
def stock_reserve_again(
    *, holder: str, quantities: dict[int, int], now: dt.datetime | None = None
) -> list[StockReservation] | None:
    """Hold `quantities` for `holder` afresh unless its live holds still cover them.

    Locks the variants in primary-key order first, so two retries for one holder
    cannot both take holds. Covered (every stocked variant held, unexpired, for at
    least its units): writes nothing and returns None. Otherwise closes the
    holder's active holds (lapsed ones as expired, live ones as released) and
    returns new ones for the full quantities from stock_reserve, which raises
    StockUnavailable naming every shortfall; nothing is closed then.
    """
    now = now or timezone.now()
    variants = _lock_variants(quantities)
    mine = StockReservation.objects.filter(holder=holder)
    held = _held_per_variant(mine.holding(now=now))
    if all(
        held.get(variant_id, 0) >= quantity
        for variant_id, quantity in quantities.items()
        if variant_id not in variants or not _holds_no_stock(variants[variant_id])
    ):
        return None
    mine.lapsed(now=now).update(status=StockReservation.Status.EXPIRED, closed_at=now)
    mine.holding(now=now).update(status=StockReservation.Status.RELEASED, closed_at=now)
    return stock_reserve(holder=holder, quantities=quantities, now=now)


def stock_release(*, holder: str, now: dt.datetime | None = None) -> int:
    """Release the holder's active reservations; returns how many were released.

    Consumed, released and expired ones keep their status and closing time.
    """
    return StockReservation.objects.filter(
        holder=holder, status=StockReservation.Status.ACTIVE
    ).update(status=StockReservation.Status.RELEASED, closed_at=now or timezone.now())


@transaction.atomic
def reservations_expire(*, now: dt.datetime | None = None, actor_label="system") -> int:
    """Mark every active reservation past its expiry as expired. Audited when any."""
    now = now or timezone.now()
    count = StockReservation.objects.lapsed(now=now).update(
        status=StockReservation.Status.EXPIRED, closed_at=now
    )
    if count:
        audit_record(
            event_type="stock.reservations_expired",
            actor_label=actor_label,
            metadata={"expired": count},
        )
    return count


class StockOversellError(DomainError):
    """A paid order's stock is no longer there (its reservation lapsed and sold)."""

    def __init__(self, shortfalls: list[Shortfall]):
        self.shortfalls = shortfalls
        super().__init__(
            "Not enough stock to fulfil: "
            + ", ".join(
                f"{s.sku} short by {s.requested - s.available}" for s in shortfalls
            )
        )


@transaction.atomic
def stock_sell(*, holder: str, quantities: dict[int, int]) -> None:
    """Take sold units off stock on hand at payment and consume the holder's
    reservations. Rows are locked in primary-key order.

    Money in hand wins over holds: a sale is refused only when stock on hand is
    short, not when other checkouts hold the units (ARCHITECTURE.md, docs/decisions.md).
    Raises StockOversellError, writing nothing, when any variant falls short.
    Preorder and subscription variants are not decremented.
    """
    variants = _lock_variants(quantities)
    shortfalls, sales = [], []
    for variant_id, quantity in sorted(quantities.items()):
        variant = variants[variant_id]
        if _holds_no_stock(variant):
            continue
        if quantity > variant.stock_on_hand:
            shortfalls.append(
                Shortfall(
                    variant_id,
                    variant.sku,
                    str(variant),
                    quantity,
                    max(variant.stock_on_hand, 0),
                )
            )
        sales.append((variant_id, quantity))
    if shortfalls:
        raise StockOversellError(shortfalls)
    for variant_id, quantity in sales:
        _move(
            variant_id=variant_id, delta=-quantity, reason=Reason.SALE, reference=holder
        )
    StockReservation.objects.filter(
        holder=holder, status=StockReservation.Status.ACTIVE
    ).update(status=StockReservation.Status.CONSUMED, closed_at=timezone.now())


@transaction.atomic
def stock_restock(*, holder: str, quantities: dict[int, int], note: str, actor=None):
    """Return units to stock (a refund with restock). Writes movements."""
    variants = _lock_variants(quantities)
    for variant_id, quantity in sorted(quantities.items()):
        if quantity <= 0 or _holds_no_stock(variants[variant_id]):
            continue
        _move(
            variant_id=variant_id,
            delta=quantity,
            reason=Reason.REFUND_RESTOCK,
            reference=holder,
            note=note,
            actor=actor,
        )


@transaction.atomic
def stock_restock_reverse(*, holder: str, quantities: dict[int, int], note: str):
    """Take back units a refund returned when that refund failed afterwards: the
    goods were counted in on a refund that did not happen. Never below zero (units
    sold meanwhile stay sold; ops count the shelf). Writes movements."""
    variants = _lock_variants(quantities)
    for variant_id, quantity in sorted(quantities.items()):
        variant = variants[variant_id]
        product = variant.product
        if quantity <= 0 or product.is_preorder or product.is_subscription:
            continue
        taken = min(quantity, variant.stock_on_hand)
        if taken > 0:
            _move(
                variant_id=variant_id,
                delta=-taken,
                reason=Reason.RESTOCK_REVERSED,
                reference=holder,
                note=note,
            )
