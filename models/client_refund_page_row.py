from odoo import fields, models


class ClientRefundPageRow(models.AbstractModel):
    """A row of the client's Refund page (see res.partner): what was sold and
    how it was paid. Each document computes them, with what is left to refund
    in its own currency, in ``_compute_client_refund_row``."""

    _name = "client.refund.page.row"
    _description = "Row of the Client's Refund Page"

    client_refund_products = fields.Char(
        string="Sold",
        compute="_compute_client_refund_row",
        groups="client_refund.group_client_refund_user",
    )
    client_refund_paid_by = fields.Char(
        string="Paid By",
        compute="_compute_client_refund_row",
        groups="client_refund.group_client_refund_user",
    )
    client_refund_waiting = fields.Char(
        string="Waiting",
        compute="_compute_client_refund_waiting",
        groups="client_refund.group_client_refund_user",
        help="Refunds asked and not made yet: waiting for a manager's approval, or for "
        "Stripe. A new refund is refused beyond what they leave.",
    )

    def _compute_client_refund_row(self):
        raise NotImplementedError

    def _compute_client_refund_waiting(self):
        notes = self._client_refund_get_waiting_notes()
        for document in self:
            document.client_refund_waiting = notes.get(document, False)
