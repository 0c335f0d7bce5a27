from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    client_refund_account_id = fields.Many2one(
        related="company_id.client_refund_account_id",
        readonly=False,
        domain="[('account_type', 'in', ('expense', 'expense_direct_cost')), "
        "('company_ids', 'in', company_id)]",
    )
    client_refund_approval_threshold = fields.Monetary(
        related="company_id.client_refund_approval_threshold",
        currency_field="currency_id",
        readonly=False,
    )
    client_refund_daily_cap = fields.Monetary(
        related="company_id.client_refund_daily_cap",
        currency_field="currency_id",
        readonly=False,
    )
    client_refund_tz = fields.Selection(related="company_id.client_refund_tz", readonly=False)
    client_refund_limit_credit_notes = fields.Boolean(
        related="company_id.client_refund_limit_credit_notes", readonly=False
    )
    client_refund_stripe_wait_hours = fields.Integer(
        related="company_id.client_refund_stripe_wait_hours", readonly=False
    )
    client_refund_dispute_notice_days = fields.Integer(
        related="company_id.client_refund_dispute_notice_days", readonly=False
    )
    client_refund_dispute_fee_account_id = fields.Many2one(
        related="company_id.client_refund_dispute_fee_account_id", readonly=False
    )
    client_refund_deduct_points = fields.Boolean(
        related="company_id.client_refund_deduct_points", readonly=False
    )
    client_refund_default_reason_id = fields.Many2one(
        related="company_id.client_refund_default_reason_id",
        readonly=False,
        domain="['|', ('company_id', '=', False), ('company_id', '=', company_id)]",
    )
    client_refund_journal_id = fields.Many2one(
        related="company_id.client_refund_journal_id",
        readonly=False,
        domain="[('type', 'in', ('cash', 'bank')), ('company_id', '=', company_id)]",
    )
    client_refund_policy_id = fields.Many2one(
        related="company_id.client_refund_policy_id",
        readonly=False,
        domain="[('company_id', '=', company_id)]",
    )
    client_refund_unusual_factor = fields.Float(
        related="company_id.client_refund_unusual_factor", readonly=False
    )
    client_refund_frequent_refunds = fields.Integer(
        related="company_id.client_refund_frequent_refunds", readonly=False
    )
