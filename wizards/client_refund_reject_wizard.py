from odoo import fields, models


class ClientRefundRejectWizard(models.TransientModel):
    _name = "client.refund.reject.wizard"
    _description = "Reject a Refund"

    refund_ids = fields.Many2many(comodel_name="client.refund", required=True)
    reason = fields.Text(required=True)

    def action_reject(self):
        self.ensure_one()
        # sudo: every refund asked for, so that one the manager may not read
        # (another company's) is refused rather than silently skipped
        refunds = self.sudo().refund_ids.with_env(self.env)
        refunds.check_access("write")
        refunds.action_reject(self.reason)
        return {"type": "ir.actions.act_window_close"}
