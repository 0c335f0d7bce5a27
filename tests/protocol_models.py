"""A kind of refundable document made for the tests of the refund protocol: a
prepaid voucher that implements only the hooks client.refund.source declares,
and adds itself to the register and the wizard the way the README's Design
section says a new kind of sale does (one field on each). Loaded with
odoo-test-helper's FakeModelLoader: never imported by the addon."""

from odoo import Command, fields, models
from odoo.exceptions import UserError

from odoo.addons.client_refund.models.client_refund import COUNTED_STATES


class ClientRefundTestVoucher(models.Model):
    _name = "client.refund.test.voucher"
    _inherit = ["mail.thread", "client.refund.source"]
    _description = "Prepaid Voucher (refund protocol test)"
    _client_refund_payout_methods = ("journal",)

    name = fields.Char(required=True)
    partner_id = fields.Many2one(comodel_name="res.partner", required=True)
    company_id = fields.Many2one(comodel_name="res.company", required=True)
    currency_id = fields.Many2one(comodel_name="res.currency", required=True)
    amount = fields.Monetary(string="Paid")
    state = fields.Selection(selection=[("draft", "Draft"), ("paid", "Paid")], default="draft")
    client_refund_ids = fields.One2many(
        comodel_name="client.refund", inverse_name="source_voucher_id"
    )

    def _client_refund_get_source_type(self):
        return "voucher"

    def _client_refund_check_refundable(self):
        for voucher in self:
            if voucher.state != "paid":
                # a test model's message: not for the addon's translators
                raise UserError(  # pylint: disable=translation-required
                    f"Voucher {voucher.name} is not paid: nothing to refund."
                )

    def _client_refund_get_refundable_amount(self, exclude_refund=None):
        self.ensure_one()
        excluded = exclude_refund._origin.id if exclude_refund else False
        # sudo: every refund of the voucher counts, whoever made it
        earlier = self.sudo().client_refund_ids.filtered(
            lambda refund: refund.state in COUNTED_STATES and refund.id != excluded
        )
        return self.currency_id.round(self.amount - sum(earlier.mapped("amount")))

    def _client_refund_compute_amount(self, refund):
        if refund.scope == "full":
            return self._client_refund_get_refundable_amount(exclude_refund=refund)
        return self.currency_id.round(refund.amount)

    def _client_refund_check_own_request(self, refund):
        self._client_refund_check_amount(
            refund, self._client_refund_get_refundable_amount(exclude_refund=refund)
        )

    def _client_refund_execute(self, refund):
        """Pay the voucher out of cash or bank, on the company's Refund expense
        account."""
        payment = self.env["account.payment"]._client_refund_pay_out(
            refund, refund.amount, refund.currency_id, account=refund.company_id.client_refund_account_id
        )
        return {
            "amount": refund.amount,
            "amount_paid_back": payment.amount,
            "payment_ids": [Command.set(payment.ids)],
        }


class ClientRefund(models.Model):
    _inherit = "client.refund"

    source_voucher_id = fields.Many2one(
        comodel_name="client.refund.test.voucher", readonly=True, index="btree_not_null"
    )
    source_type = fields.Selection(
        selection_add=[("voucher", "Voucher")], ondelete={"voucher": "cascade"}
    )


class ClientRefundWizard(models.TransientModel):
    _inherit = "client.refund.wizard"

    voucher_id = fields.Many2one(comodel_name="client.refund.test.voucher")
    source_type = fields.Selection(
        selection_add=[("voucher", "Voucher")], ondelete={"voucher": "cascade"}
    )
