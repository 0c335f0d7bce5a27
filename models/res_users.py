from odoo import _, api, fields, models
from odoo.exceptions import ValidationError


class ResUsers(models.Model):
    _inherit = "res.users"

    client_refund_digest = fields.Boolean(
        string="Daily Digest of Flagged Refunds",
        groups="client_refund.group_client_refund_manager",
        help="Receive each morning an e-mail of the refunds flagged the day before in "
        "your companies.",
    )

    @property
    def SELF_READABLE_FIELDS(self):
        return super().SELF_READABLE_FIELDS + ["client_refund_digest"]

    @property
    def SELF_WRITEABLE_FIELDS(self):
        return super().SELF_WRITEABLE_FIELDS + ["client_refund_digest"]

    @api.constrains("client_refund_digest")
    def _check_client_refund_digest(self):
        # a user writes it on themselves in sudo (SELF_WRITEABLE_FIELDS)
        for user in self:
            if user.client_refund_digest and not user.has_group(
                "client_refund.group_client_refund_manager"
            ):
                raise ValidationError(_("The digest of flagged refunds is for refund managers."))
