from odoo import models


class AccountMove(models.Model):
    _inherit = "account.move"

    def _client_refund_get_policy_texts(self):
        """The texts for clients of the refund policies that govern what this
        customer invoice sells and are printed on invoices, in the policies'
        order: each product's policy (see client.refund.policy._get_policies),
        the company's default for a line without a product."""
        self.ensure_one()
        if self.move_type not in ("out_invoice", "out_receipt"):
            return []
        # sudo: the invoice prints the texts for whoever prints it, a client on
        # the portal or an accountant without refund rights
        Policy = self.env["client.refund.policy"].sudo()
        company = self.company_id
        # most companies print no policy: one query says so
        if not Policy.search_count(
            [("company_id", "=", company.id), ("print_on_invoice", "=", True)], limit=1
        ):
            return []
        lines = self.sudo().invoice_line_ids.filtered(lambda line: line.display_type == "product")
        policies = Policy.union(*Policy._get_policies(lines.product_id, company).values())
        if any(not line.product_id for line in lines):
            policies |= company.sudo().client_refund_policy_id
        return [
            policy.client_text
            for policy in policies.sorted(lambda policy: (policy.sequence, policy.id))
            if policy.print_on_invoice and policy.client_text
        ]
