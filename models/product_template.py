from odoo import api, fields, models
from odoo.exceptions import ValidationError


def check_policy_company(records, fname):
    """A policy set for the current company is one of its own."""
    company = records.env.company
    for record in records:
        # sudo: another company's policy is refused, not an access error
        policy = record[fname].sudo()
        if policy and policy.company_id != company:
            raise ValidationError(
                records.env._("That refund policy is not one of %(company)s.", company=company.name)
            )


class ProductTemplate(models.Model):
    _inherit = "product.template"

    client_refund_policy_id = fields.Many2one(
        comodel_name="client.refund.policy",
        string="Refund Policy",
        company_dependent=True,
        groups="client_refund.group_client_refund_manager",
        domain="[('company_id', '=', current_company_id)]",
        help="The owner's rules for refunds of this product: window, final sale, "
        "fees. Empty: its category's, else the company's default.",
    )

    @api.constrains("client_refund_policy_id")
    def _check_client_refund_policy_company(self):
        check_policy_company(self, "client_refund_policy_id")


class ProductCategory(models.Model):
    _inherit = "product.category"

    client_refund_policy_id = fields.Many2one(
        comodel_name="client.refund.policy",
        string="Refund Policy",
        company_dependent=True,
        groups="client_refund.group_client_refund_manager",
        domain="[('company_id', '=', current_company_id)]",
        help="The owner's rules for refunds of the products of this category, "
        "but those with their own. Empty: its parent's, else the company's default.",
    )

    @api.constrains("client_refund_policy_id")
    def _check_client_refund_policy_company(self):
        check_policy_company(self, "client_refund_policy_id")
