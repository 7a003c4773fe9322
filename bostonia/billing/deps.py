"""Names of the billing capability's services for route parameters.

Route parameters with these names receive the service registered under that name in `bostonia/app.py`.
"""

from __future__ import annotations

from litestar.di import NamedDependency

from bostonia.billing.payments import PaymentService
from bostonia.billing.service import BillingService

Billing = NamedDependency[BillingService]
Payments = NamedDependency[PaymentService]
