from odoo import _, api, fields, models

from ..models.client_refund_source import check_numbers


class ClientRefundNumbersMixin(models.AbstractModel):
    """NaN, Infinity and numbers beyond any amount get a clear error, however
    they are sent: JSON-RPC parses them, and rounding them raises ValueError."""

    _name = "client.refund.numbers.mixin"
    _description = "Refund Wizard Numbers"

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            check_numbers(self, vals)
        return super().create(vals_list)

    def write(self, vals):
        check_numbers(self, vals)
        return super().write(vals)

    def onchange(self, values, field_names, fields_spec):
        check_numbers(self, values)
        return super().onchange(values, field_names, fields_spec)


class ClientRefundWizardMixin(models.AbstractModel):
    """What every refund wizard asks besides what is refunded: the client, how
    the money goes back (cash or bank journal, client credit, a till), the
    reason, a note and the receipt; and how it records the refund once the
    source has checked it. The wizards compute their company, client, payout
    method and till from what they refund."""

    _name = "client.refund.wizard.mixin"
    _inherit = ["client.refund.numbers.mixin"]
    _description = "Refund Wizard"
    _check_company_auto = True

    company_id = fields.Many2one(
        comodel_name="res.company",
        required=True,
        compute="_compute_company_id",
        store=True,
        precompute=True,
        readonly=False,
    )
    partner_id = fields.Many2one(
        comodel_name="res.partner",
        string="Client",
        compute="_compute_partner_id",
        store=True,
        precompute=True,
        readonly=False,
        check_company=True,
    )
    payout_method = fields.Selection(
        selection=[
            ("journal", "Cash / Bank"),
            ("credit", "Keep as client credit"),
            ("pos", "Point of Sale till"),
        ],
        string="Pay Back By",
        required=True,
        compute="_compute_payout_method",
        store=True,
        precompute=True,
        readonly=False,
    )
    pos_config_id = fields.Many2one(
        comodel_name="pos.config",
        string="Pay Out At",
        check_company=True,
        compute="_compute_pos_config_id",
        store=True,
        precompute=True,
        readonly=False,
        help="Point of Sale whose open session pays the refund out of its till.",
    )
    payout_journal_id = fields.Many2one(
        comodel_name="account.journal",
        check_company=True,
        domain="[('type', 'in', ('cash', 'bank'))]",
        compute="_compute_payout_journal_id",
        store=True,
        precompute=True,
        readonly=False,
    )
    reason_id = fields.Many2one(
        comodel_name="client.refund.reason",
        required=True,
        check_company=True,
    )
    note = fields.Text()
    send_receipt = fields.Boolean(
        string="E-mail the Receipt",
        compute="_compute_send_receipt",
        store=True,
        precompute=True,
        readonly=False,
    )

    @api.depends("company_id")
    def _compute_payout_journal_id(self):
        Journal = self.env["account.journal"]
        for wizard in self:
            company = wizard.company_id
            wizard.payout_journal_id = company.client_refund_journal_id or Journal.search(
                [*Journal._check_company_domain(company), ("type", "=", "cash")], limit=1
            )

    @api.depends("partner_id")
    def _compute_send_receipt(self):
        for wizard in self:
            wizard.send_receipt = bool(wizard.partner_id.email)

    @api.model
    def _get_launch_action(self, context):
        return {
            "name": _("Refund"),
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": context,
        }

    def _confirm_refund(self, refund_vals):
        """Check the refund before the register takes a number, then record it and
        confirm it: the register derives from the source what decides money and
        approval, and checks it all again with the user's rights."""
        self.ensure_one()
        Refund = self.env["client.refund"]
        Refund._check_new_request(refund_vals)
        # sudo: users read the register and never write it; the refund is
        # recorded here, once checked, and confirmed with the user's rights.
        # The register's own message says who refunded what: no creation message
        # (on the refund only: the credit notes and payments keep theirs).
        refund = (
            Refund.sudo().with_context(mail_create_nolog=True).create(refund_vals).with_env(self.env)
        )
        refund.action_confirm()
        return refund._action_view_refunds(refund)
