from odoo import fields, models


class ClientRefundReason(models.Model):
    _name = "client.refund.reason"
    _description = "Client Refund Reason"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        comodel_name="res.company",
        help="Leave empty to offer the reason in every company.",
    )
    stripe_reason = fields.Selection(
        selection=[
            ("requested_by_customer", "Requested by customer"),
            ("duplicate", "Duplicate"),
            ("fraudulent", "Fraudulent"),
        ],
        default="requested_by_customer",
        required=True,
        help="Reason sent to Stripe when the refund goes back to a card.",
    )

    _sql_constraints = [
        (
            "name_company_uniq",
            "unique(name, company_id)",
            "A refund reason with this name already exists.",
        ),
    ]
