from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

PAYMENT_PROGRAM_TYPES = ("gift_card", "ewallet")


class LoyaltyProgram(models.Model):
    _inherit = "loyalty.program"

    client_refund_is_visit_pack = fields.Boolean(
        string="Visit Pack",
        help="The points of a card are the visits left: a refund gives back the "
        "price paid for the visits not used.",
    )
    client_refund_allow_balance = fields.Boolean(
        string="Refunds May Change Balances",
        help="Refunds may empty or lower the balance of this program's cards (gift "
        "cards, eWallets, visit packs). Off: such a refund is refused.",
    )

    @api.constrains("client_refund_is_visit_pack", "program_type")
    def _check_client_refund_visit_pack(self):
        for program in self:
            if program.client_refund_is_visit_pack and program.program_type in PAYMENT_PROGRAM_TYPES:
                raise ValidationError(
                    _(
                        "%s is a gift card or eWallet program: its balance is money, "
                        "not visits. It cannot be a visit pack.",
                        program.display_name,
                    )
                )

    def _client_refund_get_source_type(self):
        """What a refund of one of the program's cards refunds, or False."""
        self.ensure_one()
        if self.client_refund_is_visit_pack:
            return "visit_pack"
        if self.program_type in PAYMENT_PROGRAM_TYPES:
            return self.program_type
        return False

    def _client_refund_check_balance_change(self):
        for program in self:
            if not program.client_refund_allow_balance:
                raise UserError(
                    _(
                        "Program %s does not let refunds change card balances: tick "
                        '"Refunds May Change Balances" on the program first.',
                        program.display_name,
                    )
                )

    def _client_refund_get_point_value(self):
        """The money one point pays for, in the program's currency."""
        self.ensure_one()
        reward = self.reward_ids.filtered(
            lambda r: r.reward_type == "discount" and r.discount_mode == "per_point"
        )[:1]
        return reward.discount or 1.0
