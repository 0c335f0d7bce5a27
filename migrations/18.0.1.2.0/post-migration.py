from odoo import SUPERUSER_ID, api

# The reasons shipped where the business is at fault: the refund policy does
# not apply to them. Their data is noupdate, so an upgrade sets it here.
BUSINESS_REASONS = (
    "reason_service_unsatisfactory",
    "reason_wrong_price",
    "reason_duplicate_payment",
    "reason_payment_mistake",
    "reason_fraudulent",
    "reason_goodwill",
)


def migrate(cr, version):
    env = api.Environment(cr, SUPERUSER_ID, {})
    for xmlid in BUSINESS_REASONS:
        reason = env.ref(f"client_refund.{xmlid}", raise_if_not_found=False)
        if reason:
            reason.write({"fault": "business", "apply_policy": False})
