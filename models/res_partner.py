from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

# The client's Refund page: the newest documents read per section, and shown
ROWS_READ = 40
ROWS_SHOWN = 20


class ResPartner(models.Model):
    _inherit = "res.partner"

    client_refund_ids = fields.One2many(
        comodel_name="client.refund",
        inverse_name="partner_id",
        string="Refunds",
        groups="client_refund.group_client_refund_user",
    )
    client_refund_count = fields.Integer(
        compute="_compute_client_refund_count",
        groups="client_refund.group_client_refund_user",
    )

    client_refund_total_12_months = fields.Monetary(
        string="Refunded (12 months)",
        compute="_compute_client_refund_count",
        currency_field="client_refund_currency_id",
        groups="client_refund.group_client_refund_user",
        help="Refunds done in the last twelve months, in the company currency.",
    )
    client_refund_currency_id = fields.Many2one(
        comodel_name="res.currency", compute="_compute_client_refund_count"
    )
    client_refund_invoice_ids = fields.Many2many(
        comodel_name="account.move",
        string="Refundable Invoices",
        compute="_compute_client_refund_invoice_ids",
        groups="account.group_account_invoice",
    )
    client_refund_pos_order_ids = fields.Many2many(
        comodel_name="pos.order",
        string="Refundable POS Orders",
        compute="_compute_client_refund_pos_order_ids",
        groups="point_of_sale.group_pos_user",
    )
    client_refund_card_ids = fields.Many2many(
        comodel_name="loyalty.card",
        string="Refundable Cards",
        compute="_compute_client_refund_card_ids",
        groups="client_refund.group_client_refund_user",
    )
    client_refund_membership_line_ids = fields.Many2many(
        comodel_name="membership.membership_line",
        string="Refundable Memberships",
        compute="_compute_client_refund_membership_line_ids",
        groups="client_refund.group_client_refund_user",
    )

    @api.depends(
        "member_lines.account_invoice_line",
        "member_lines.account_invoice_line.move_id.state",
        "member_lines.account_invoice_line.move_id.payment_state",
        "member_lines.account_invoice_line.move_id.partner_id",
        "free_member",
        "member_lines.date_to",
        "member_lines.date_from",
        "associate_member",
        "associate_member.membership_state",
        "member_lines.state",
        "member_lines.date_cancel",
    )
    def _compute_membership_state(self):
        """Core's, also when a membership line is cancelled or changes state: core
        misses a credit note on a paid invoice and a refund that cancels it."""
        return super()._compute_membership_state()

    def _compute_client_refund_count(self):
        groups = self.env["client.refund"]._read_group(
            [("partner_id", "child_of", self.commercial_partner_id.ids)],
            groupby=["partner_id"],
            aggregates=["__count"],
        )
        count_by_commercial = {}
        for partner, count in groups:
            commercial = partner.commercial_partner_id
            count_by_commercial[commercial] = count_by_commercial.get(commercial, 0) + count
        since = fields.Datetime.now() - relativedelta(months=12)
        totals = self.env["client.refund"]._read_group(
            [
                ("partner_id", "child_of", self.commercial_partner_id.ids),
                ("state", "=", "done"),
                ("date", ">=", since),
            ],
            groupby=["partner_id"],
            aggregates=["amount_company_currency:sum"],
        )
        total_by_commercial = {}
        for partner, total in totals:
            commercial = partner.commercial_partner_id
            total_by_commercial[commercial] = total_by_commercial.get(commercial, 0.0) + total
        for partner in self:
            partner.client_refund_count = count_by_commercial.get(
                partner.commercial_partner_id, 0
            )
            partner.client_refund_total_12_months = total_by_commercial.get(
                partner.commercial_partner_id, 0.0
            )
            partner.client_refund_currency_id = self.env.company.currency_id

    # The client's Refund page: a compute per section, each field having its
    # own group (reading one must not search the others' models)
    def _compute_client_refund_invoice_ids(self):
        self._client_refund_compute_rows("client_refund_invoice_ids")

    def _compute_client_refund_pos_order_ids(self):
        self._client_refund_compute_rows("client_refund_pos_order_ids")

    def _compute_client_refund_card_ids(self):
        self._client_refund_compute_rows("client_refund_card_ids")

    def _compute_client_refund_membership_line_ids(self):
        self._client_refund_compute_rows("client_refund_membership_line_ids")

    def _client_refund_compute_rows(self, fname):
        """The client's documents of the section `fname` a refund can start
        from: those the source finds for the client, still refundable."""
        Document = self.env[self._fields[fname].comodel_name]
        for partner in self:
            commercial = partner.commercial_partner_id
            partner[fname] = self._client_refund_keep_refundable(
                Document._client_refund_search_client_documents(commercial, ROWS_READ)
                if commercial.id
                else Document
            )

    @api.model
    def _client_refund_keep_refundable(self, documents):
        """The documents whose own Refund button would open the refund wizard
        (the source's ``_client_refund_check_refundable``) and that have money
        left to refund (``_client_refund_get_refundable_amount``), at most
        ROWS_SHOWN of them. The checks run on the whole set first: one pass for
        every document in the usual case where none is refused."""
        try:
            # the checks only read: nothing to roll back when one refuses
            documents._client_refund_check_refundable()
            checked = documents
        except UserError:
            checked = documents.browse()
            for document in documents:
                try:
                    document._client_refund_check_refundable()
                except UserError:
                    continue
                checked |= document
        # client_refund_left is computed for the whole set at once
        currency_field = checked._fields["client_refund_left"].get_currency_field(checked)
        kept = checked.filtered(
            lambda document: document[currency_field].compare_amounts(
                document.client_refund_left, 0.0
            )
            > 0
        )
        return kept[:ROWS_SHOWN]

    def action_client_refund(self):
        self.ensure_one()
        return self.env["client.refund.wizard"]._get_launch_action(
            {"default_partner_id": self.commercial_partner_id.id}
        )

    def action_view_client_refunds(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "client_refund.client_refund_action"
        )
        action["domain"] = [("partner_id", "child_of", self.commercial_partner_id.id)]
        action["context"] = {"default_partner_id": self.commercial_partner_id.id}
        return action
