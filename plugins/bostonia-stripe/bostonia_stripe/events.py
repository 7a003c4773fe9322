"""Stripe's webhook events in Bostonia's terms (`PaymentEvent`). Only what Bostonia acts on is read;
every other type is acknowledged as `ignored`. Both the older (`invoice.subscription`) and the newer
(`invoice.parent.subscription_details`) shapes of invoices are understood."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bostonia.plugin_api import PaymentEvent

# Stripe's subscription statuses -> Bostonia's.
STATUSES = {
    "active": "active",
    "trialing": "trialing",
    "past_due": "past_due",
    "unpaid": "past_due",
    "paused": "past_due",
    "incomplete": "incomplete",
    "incomplete_expired": "canceled",
    "canceled": "canceled",
}


def _iso(stamp: Any) -> str | None:
    return datetime.fromtimestamp(int(stamp), UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z") if stamp else None


def _id(value: Any) -> str | None:
    """An expandable field: an id, or the expanded object."""
    if isinstance(value, dict):
        return value.get("id")
    return str(value) if value else None


def _metadata(*objects: Any) -> dict[str, str]:
    merged: dict[str, str] = {}
    for obj in objects:
        if isinstance(obj, dict) and isinstance(obj.get("metadata"), dict):
            merged = {**obj["metadata"], **merged}
    return merged


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def translate(event: dict[str, Any]) -> PaymentEvent:
    event_id, kind_name = str(event.get("id") or ""), str(event.get("type") or "")
    obj = (event.get("data") or {}).get("object") or {}
    base: dict[str, Any] = {"id": event_id, "type": kind_name}
    if kind_name in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        meta = _metadata(obj)
        common = {
            **base,
            "user_id": obj.get("client_reference_id") or meta.get("user_id"),
            "customer_id": _id(obj.get("customer")),
        }
        if obj.get("mode") == "subscription":
            return PaymentEvent(
                **common,
                kind="checkout_completed",
                subscription_id=_id(obj.get("subscription")),
                tier=meta.get("tier"),
                status="active",
            )
        if obj.get("payment_status") != "paid":  # an asynchronous payment: its success event follows
            return PaymentEvent(**base, kind="ignored")
        return PaymentEvent(
            **common,
            kind="checkout_completed",
            payment_id=_id(obj.get("payment_intent")) or obj.get("id"),
            amount_cents=int(obj.get("amount_total") or 0),
            currency=obj.get("currency"),
            pack=meta.get("pack"),
            credits=_int(meta.get("credits")),
        )
    if kind_name in ("invoice.paid", "invoice.payment_failed"):
        parent = (obj.get("parent") or {}).get("subscription_details") or {}
        lines = ((obj.get("lines") or {}).get("data") or [{}])[0] or {}
        period = lines.get("period") or {}
        meta = _metadata(parent, obj.get("subscription_details") or {}, lines, obj)
        paid = kind_name == "invoice.paid"
        return PaymentEvent(
            **base,
            kind="invoice_paid" if paid else "payment_failed",
            user_id=meta.get("user_id"),
            customer_id=_id(obj.get("customer")),
            subscription_id=_id(obj.get("subscription")) or _id(parent.get("subscription")),
            tier=meta.get("tier"),
            status="active" if paid else "past_due",
            period_start=_iso(period.get("start")),
            period_end=_iso(period.get("end")),
            payment_id=obj.get("id"),
            amount_cents=int((obj.get("amount_paid") if paid else obj.get("amount_due")) or 0),
            currency=obj.get("currency"),
        )
    if kind_name in ("customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted"):
        item = ((obj.get("items") or {}).get("data") or [{}])[0] or {}
        deleted = kind_name.endswith("deleted")
        return PaymentEvent(
            **base,
            kind="subscription_deleted" if deleted else "subscription_updated",
            user_id=_metadata(obj).get("user_id"),
            customer_id=_id(obj.get("customer")),
            subscription_id=obj.get("id"),
            tier=_metadata(obj).get("tier"),
            status="canceled" if deleted else STATUSES.get(str(obj.get("status")), "past_due"),
            period_start=_iso(obj.get("current_period_start") or item.get("current_period_start")),
            period_end=_iso(obj.get("current_period_end") or item.get("current_period_end")),
            cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
        )
    if kind_name in ("transfer.created", "transfer.paid", "transfer.failed", "transfer.reversed"):
        failed = kind_name in ("transfer.failed", "transfer.reversed")
        return PaymentEvent(
            **base,
            kind="transfer_failed" if failed else "transfer_paid",
            payout_id=_metadata(obj).get("payout_id"),
            transfer_id=obj.get("id"),
            amount_cents=int(obj.get("amount") or 0),
            currency=obj.get("currency"),
        )
    return PaymentEvent(**base, kind="ignored")
