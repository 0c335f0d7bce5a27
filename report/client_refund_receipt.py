from odoo import api, models


class ReportClientRefundReceipt(models.AbstractModel):
    """The receipt says a refund was made: it is printed for refunds made only,
    whichever way it is asked for (the button, /report/pdf or /report/html)."""

    _name = "report.client_refund.report_client_refund_receipt"
    _description = "Refund Receipt"

    @api.model
    def _get_report_values(self, docids, data=None):
        refunds = self.env["client.refund"].browse(docids)
        refunds._check_receipt_printable()
        return {"doc_ids": refunds.ids, "doc_model": refunds._name, "docs": refunds}
