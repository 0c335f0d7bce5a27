from odoo import fields, models


class ClientRefundFee(models.Model):
    """What a refund kept under one policy: the fee, or the fee waived and by
    whom. Written by the register only; the reports count fees kept by reason,
    month, staff and policy from it."""

    _name = "client.refund.fee"
    _description = "Refund Fee Kept"
    _order = "refund_id, id"

    refund_id = fields.Many2one(
        comodel_name="client.refund", required=True, ondelete="cascade", index=True, readonly=True
    )
    policy_id = fields.Many2one(
        comodel_name="client.refund.policy", required=True, index=True, readonly=True
    )
    fault = fields.Selection(
        selection=[
            ("late_cancel", "Late cancellation"),
            ("no_show", "No-show"),
        ],
        required=True,
        readonly=True,
    )
    base = fields.Monetary(
        string="Refunded Under the Policy",
        currency_field="currency_id",
        readonly=True,
        help="What the refund credits under the policy, tax included.",
    )
    amount = fields.Monetary(
        string="Fee Kept", currency_field="currency_id", readonly=True
    )
    amount_waived = fields.Monetary(
        string="Fee Waived", currency_field="currency_id", readonly=True
    )
    company_id = fields.Many2one(related="refund_id.company_id", store=True, index=True)
    currency_id = fields.Many2one(related="refund_id.currency_id", store=True)
    # the reports group fees by what the refund says
    reason_id = fields.Many2one(related="refund_id.reason_id", store=True)
    user_id = fields.Many2one(related="refund_id.user_id", string="Requested By", store=True)
    request_date = fields.Date(related="refund_id.request_date", store=True)
    state = fields.Selection(related="refund_id.state", store=True)
    partner_id = fields.Many2one(related="refund_id.partner_id", string="Client", store=True)
