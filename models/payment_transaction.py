from odoo import fields, models


class PaymentTransaction(models.Model):
    _inherit = "payment.transaction"

    client_refund_ids = fields.One2many(
        comodel_name="client.refund",
        inverse_name="payment_transaction_id",
        string="Client Refunds",
    )
    client_refund_pos_payment_id = fields.Many2one(
        comodel_name="pos.payment",
        string="POS Terminal Payment",
        index="btree_not_null",
        readonly=True,
        help="The Stripe terminal payment of a Point of Sale order this transaction stands for.",
    )

    def _create_child_transaction(self, amount, is_refund=False, **custom_create_values):
        child = super()._create_child_transaction(
            amount, is_refund=is_refund, **custom_create_values
        )
        refund = self.env["client.refund"].browse(self.env.context.get("client_refund_id"))
        if is_refund and refund:
            # linked before Stripe answers, so that the answer updates the refund
            refund._write_record({"payment_transaction_id": child.id})
        return child

    def _post_process(self):
        """The refunds of a POS terminal payment are booked by the POS refund
        order and its session, not by an account.payment."""
        pos_refunds = self.filtered(
            lambda tx: tx.source_transaction_id.client_refund_pos_payment_id
        )
        pos_refunds.is_post_processed = True
        return super(PaymentTransaction, self - pos_refunds)._post_process()

    def _process_notification_data(self, notification_data):
        """Whoever brings Stripe's news (the answer to the request, the webhook,
        the scheduled check), the register follows the refund transaction."""
        result = super()._process_notification_data(notification_data)
        if self.operation == "refund":
            # sudo: the notification is processed for the provider, not for a user
            self.sudo().client_refund_ids._update_from_card_refund()
        return result

    def _client_refund_get_card_refundable_amount(self):
        """What the card payment can still give back: captured, less the refunds
        done or on their way (those of the Stripe Dashboard come through core's
        webhook as refund transactions too), less the register's refunds not sent yet."""
        self.ensure_one()
        refunds = self.child_transaction_ids.filtered(
            lambda tx: tx.operation == "refund" and tx.state not in ("cancel", "error")
        )
        waiting = self.env["client.refund"].search(
            [
                ("card_transaction_id", "=", self.id),
                ("state", "=", "pending"),
                ("payment_transaction_id", "=", False),
                ("id", "!=", self.env.context.get("client_refund_sending_id")),
            ]
        )
        return self.currency_id.round(
            self.amount + sum(refunds.mapped("amount")) - sum(waiting.mapped("amount_paid_back"))
        )
