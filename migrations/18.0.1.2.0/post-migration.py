from odoo import SUPERUSER_ID, api
from odoo.tools.convert import convert_file

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
    # The receipt e-mail says the fee a refund policy kept: its template is
    # noupdate data, which an upgrade does not load again by itself.
    convert_file(
        env, "client_refund", "data/mail_template_data.xml", {}, mode="init", noupdate=True, kind="data"
    )
