import secrets

from django.contrib import messages
from django.core.exceptions import RequestDataTooBig
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.confirm import confirmation_page
from core.exceptions import DomainError
from core.money import format_money
from core.redirects import redirect_back
from orders.models import Order
from orders.selectors import ops_order_get
from payments.forms import RefundForm
from payments.gateway import OfflineGateway, get_gateway
from payments.models import PaymentException, StripeEvent
from payments.services.checkout import checkout_start
from payments.services.exceptions import exception_resolve
from payments.services.refunds import refund_issue
from payments.services.reprocess import events_reprocess
from payments.webhook import MAX_BODY_BYTES, TOO_BIG, receive


@csrf_exempt
def webhook(request):
    """Stripe's deliveries. No session, no CSRF: the signature is the credential."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    # One size limit whatever the size: refused before Django reads a body past its
    # own upload limit (which would answer 400).
    length = request.headers.get("Content-Length", "")
    too_big = HttpResponse(TOO_BIG, status=413, content_type="text/plain")
    if length.isdigit() and int(length) > MAX_BODY_BYTES:
        return too_big
    try:
        body = request.body
    except RequestDataTooBig:
        return too_big
    result = receive(body=body, signature=request.headers.get("Stripe-Signature"))
    return HttpResponse(result.message, status=result.status, content_type="text/plain")


def _own_order(request, number) -> Order:
    orders = Order.objects.all()
    if not request.user.has_role("admin"):
        orders = orders.filter(customer=request.user)
    return get_object_or_404(orders, number=number)


@require_POST
def pay(request, number):
    """Start (or retry) paying a pending order: off to the gateway's checkout."""
    order = _own_order(request, number)
    detail = request.build_absolute_uri(order.get_absolute_url())
    try:
        session = checkout_start(
            order=order, success_url=detail + "?paid=1", cancel_url=detail
        )
    except DomainError as exc:
        messages.error(request, str(exc))
        return redirect(order.get_absolute_url())
    return redirect(session.url)


def offline_checkout(request, session_id):
    """The offline gateway's stand-in for Stripe Checkout: Pay, Decline or Cancel."""
    if not isinstance(get_gateway(), OfflineGateway):
        raise Http404("Offline payments are off")
    order = Order.objects.filter(stripe_checkout_session_id=session_id).first()
    if order is None or (
        order.customer_id != request.user.pk and not request.user.has_role("admin")
    ):
        raise Http404("No such checkout")
    if request.method == "POST" and order.status == Order.Status.PENDING:
        action = request.POST.get("action")
        gateway = OfflineGateway()
        if action == "pay":
            gateway.pay(order=order, session_id=session_id)
            messages.success(request, "Payment received. Thank you!")
        elif action == "decline":
            gateway.pay(order=order, session_id=session_id, decline=True)
            messages.error(request, "Your card was declined. You can try again.")
        elif action == "cancel":
            gateway.expire_checkout_session(session_id=session_id)
            messages.info(request, "Checkout canceled: the items are released.")
        return redirect(order.get_absolute_url())
    return render(request, "payments/offline_checkout.html", {"order": order})


def offline_subscription_checkout(request, token):
    """The offline gateway's stand-in for Stripe Checkout in subscription mode:
    Subscribe or Cancel. The signed URL holds the session; it is the customer's own."""
    if not isinstance(get_gateway(), OfflineGateway):
        raise Http404("Offline payments are off")
    session = OfflineGateway.subscription_session(token)
    if session is None or session["metadata"]["user_id"] != str(request.user.pk):
        raise Http404("No such checkout")
    session = OfflineGateway.with_customer_email(session, request.user)
    complete = StripeEvent.objects.filter(
        type="checkout.session.completed", object_id=session["id"]
    ).exists()
    if request.method == "POST" and not complete:
        if request.POST.get("action") == "subscribe":
            OfflineGateway().subscribe(session=session)
            messages.success(request, "Subscribed. Thank you!")
            return redirect(session["success_url"])
        messages.info(request, "Checkout canceled: nothing was charged.")
        return redirect(session["cancel_url"])
    return render(
        request,
        "payments/offline_subscription_checkout.html",
        {"session": session, "complete": complete},
    )


# --- ops ----------------------------------------------------------------------------


@require_POST
def refund(request, number):
    order = ops_order_get(number=number)
    form = RefundForm(request.POST, order=order)
    if not form.is_valid():
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields else None
            for error in errors:
                messages.error(request, f"{label}: {error}" if label else error)
        return redirect("ops:order_detail", number=order.number)
    restock, refund_lines = form.restock(), form.refund_lines()
    shipping = form.refund_shipping()
    lines = {line.variant_id: line for line in form.lines}
    back = reverse("ops:order_detail", args=[order.number])
    what = [f"{units} × {lines[v].sku}" for v, units in refund_lines.items()]
    if shipping:
        charge = format_money(order.shipping_pennies, order.currency)
        what.append(f"the shipping charge of {charge}")
    statements = [
        f"Refund {format_money(form.cleaned_data['amount'], order.currency)} of "
        f"order {order.number}"
        + (f" for {', '.join(what)}" if what else "")
        + " to the card the customer paid with "
        f"(payment {order.stripe_payment_intent or 'on record'}).",
    ] + [
        f"Restock {quantity} × {lines[variant_id].sku}."
        for variant_id, quantity in restock.items()
        if quantity and variant_id in lines
    ]
    if not any(restock.values()):
        statements.append("Nothing goes back into stock.")
    if page := confirmation_page(
        request,
        title=f"Refund order {order.number}?",
        statements=statements,
        button="Refund now",
        back=back,
    ):
        return page
    try:
        refund_obj = refund_issue(
            order=order,
            amount_pennies=form.cleaned_data["amount"],
            reason=form.cleaned_data["reason"],
            restock=restock,
            actor=request.user,
            idempotency_key=form.cleaned_data["idempotency_key"],
            lines=refund_lines,
            shipping=shipping,
        )
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        refund_obj.refresh_from_db()
        messages.success(
            request, f"Refund {refund_obj.stripe_refund_id}: {refund_obj.status}."
        )
    return redirect("ops:order_detail", number=order.number)


def exceptions(request):
    show = request.GET.get("show", "open")
    cases = PaymentException.objects.select_related("order", "payment")
    if show != "all":
        cases = cases.filter(resolved_at__isnull=True)
    page = Paginator(cases.order_by("-created_at"), 50).get_page(
        request.GET.get("page")
    )
    return render(request, "payments/ops/exceptions.html", {"page": page, "show": show})


@require_POST
def exception_resolve_view(request, pk):
    case = get_object_or_404(PaymentException, pk=pk)
    exception_resolve(case=case, actor=request.user, note=request.POST.get("note", ""))
    messages.success(request, "Marked resolved.")
    return redirect("payments_ops:exceptions")


def events(request):
    status = request.GET.get("status", "")
    rows = StripeEvent.objects.defer("payload").order_by("-received_at", "-id")
    if status in StripeEvent.Status.values:
        rows = rows.filter(status=status)
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "payments/ops/events.html",
        {"page": page, "status": status, "statuses": StripeEvent.Status.choices},
    )


@require_POST
def reprocess(request):
    event_id = request.POST.get("event_id", "")
    outcome = events_reprocess(
        failed=not event_id,
        pending=not event_id,
        event_id=event_id,
        actor=request.user,
    )
    summary = ", ".join(f"{n} {status}" for status, n in outcome.items()) or "nothing"
    messages.success(request, f"Reprocessed: {summary}.")
    return redirect_back(request, "payments_ops:events")


def new_refund_form(order):
    return RefundForm(
        order=order,
        initial={"idempotency_key": secrets.token_urlsafe(24)},
    )
