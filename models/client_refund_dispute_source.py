from odoo import _, fields, models


class ClientRefundDisputeHolder(models.AbstractModel):
    """A document a card dispute is shown on: the invoice, the payment, the POS
    order and the client each get a smart button and, while a dispute is open,
    a banner naming it and its evidence deadline."""

    _name = "client.refund.dispute.holder"
    _description = "Document Showing Card Disputes"
    # the dispute's field that names the document
    _client_refund_dispute_field = None

    client_refund_dispute_count = fields.Integer(
        string="Disputes",
        compute="_compute_client_refund_dispute_count",
        groups="client_refund.group_client_refund_user",
    )
    client_refund_dispute_banner = fields.Char(
        string="Open Card Disputes",
        compute="_compute_client_refund_dispute_count",
        groups="client_refund.group_client_refund_user",
    )
    client_refund_charged_back = fields.Char(
        string="Charged Back",
        compute="_compute_client_refund_dispute_count",
        groups="client_refund.group_client_refund_user",
        help="The disputes the client won: the sale was charged back through their bank.",
    )

    def _client_refund_dispute_domain(self):
        return [(self._client_refund_dispute_field, "in", self.ids)]

    def _client_refund_dispute_key(self, document):
        """What the disputes of `document` are counted under."""
        return document

    def _compute_client_refund_dispute_count(self):
        fname = self._client_refund_dispute_field
        # one read_group for the whole batch; the open disputes' names and
        # deadlines are then read at once (prefetch)
        groups = self.env["client.refund.dispute"]._read_group(
            self._client_refund_dispute_domain(),
            groupby=[fname],
            aggregates=["__count", "id:recordset"],
        )
        counts, open_disputes, lost_disputes = {}, {}, {}
        Dispute = self.env["client.refund.dispute"]
        for document, count, disputes in groups:
            key = self._client_refund_dispute_key(document)
            counts[key] = counts.get(key, 0) + count
            open_disputes[key] = open_disputes.get(key, Dispute) | disputes.filtered(
                lambda dispute: dispute.outcome == "open"
            )
            lost_disputes[key] = lost_disputes.get(key, Dispute) | disputes.filtered(
                lambda dispute: dispute.outcome == "lost"
            )
        for record in self:
            key = self._client_refund_dispute_key(record)
            record.client_refund_dispute_count = counts.get(key, 0)
            record.client_refund_dispute_banner = "; ".join(
                _(
                    "Card dispute %(dispute)s open: %(deadline)s",
                    dispute=dispute.stripe_dispute_id,
                    deadline=dispute._get_deadline_words(),
                )
                for dispute in open_disputes.get(key, Dispute).sorted("evidence_due_by")
            ) or False
            lost = lost_disputes.get(key, Dispute)
            record.client_refund_charged_back = (
                _(
                    "Charged back: %(amount)s (%(disputes)s)",
                    amount=", ".join(
                        dispute.currency_id.format(dispute.amount) for dispute in lost
                    ),
                    disputes=", ".join(lost.mapped("stripe_dispute_id")),
                )
                if lost
                else False
            )

    def action_view_client_refund_disputes(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("client_refund.client_refund_dispute_action")
        action["domain"] = self._client_refund_dispute_domain()
        # every dispute of the document, closed ones included
        action["context"] = {}
        return action


class AccountMove(models.Model):
    _name = "account.move"
    _inherit = ["account.move", "client.refund.dispute.holder"]
    _client_refund_dispute_field = "move_id"


class AccountPayment(models.Model):
    _name = "account.payment"
    _inherit = ["account.payment", "client.refund.dispute.holder"]
    _client_refund_dispute_field = "payment_id"


class PosOrder(models.Model):
    _name = "pos.order"
    _inherit = ["pos.order", "client.refund.dispute.holder"]
    _client_refund_dispute_field = "pos_order_id"


class ResPartner(models.Model):
    _name = "res.partner"
    _inherit = ["res.partner", "client.refund.dispute.holder"]
    _client_refund_dispute_field = "partner_id"

    def _client_refund_dispute_domain(self):
        # a company's disputes include its contacts', as its refunds do
        return [("partner_id", "child_of", self.commercial_partner_id.ids)]

    def _client_refund_dispute_key(self, document):
        return document.commercial_partner_id

