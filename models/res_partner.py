from odoo import fields, models


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
        for partner in self:
            partner.client_refund_count = count_by_commercial.get(
                partner.commercial_partner_id, 0
            )

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
