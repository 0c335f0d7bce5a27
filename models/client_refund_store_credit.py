from odoo import _, api, models
from odoo.exceptions import UserError
from odoo.tools import float_compare, float_round

from .client_refund_balance_source import LIABILITY_TYPES
from .client_refund_source import refund_own_path


class ClientRefundStoreCredit(models.AbstractModel):
    """Store credit (loyalty.card): a refund paid back onto the client's
    eWallet, through its history and an entry onto the eWallet's liability,
    and taken back when the refund is cancelled."""

    _name = "client.refund.store.credit"
    _description = "Store Credit on an eWallet"

    @api.model
    def _client_refund_get_ewallet(self, refund):
        """(the company's eWallet program, the liability account its top-ups
        are booked on), or a clear error saying what to set up."""
        company = refund.company_id
        # sudo: programs and accounts are read for staff without Loyalty or
        # accounting rights
        programs = self.env["loyalty.program"].sudo().search(
            [("program_type", "=", "ewallet"), ("company_id", "in", (company.id, False))]
        )
        # the client's own eWallet first
        held = self.sudo().search(
            [
                ("program_id", "in", programs.ids),
                ("partner_id", "=", refund.partner_id.commercial_partner_id.id),
            ],
            limit=1,
        ).program_id
        program = held or programs[:1]
        if not program:
            raise UserError(
                _(
                    "%s has no eWallet program: create one (Point of Sale or Sales > "
                    "Products > Gift cards & eWallet) to keep refunds as store credit.",
                    company.name,
                )
            )
        program._client_refund_check_balance_change()
        product = program.trigger_product_ids[:1]
        account = product.product_tmpl_id.with_company(company)._get_product_accounts()["income"]
        if not product or account.account_type not in LIABILITY_TYPES:
            raise UserError(
                _(
                    "The top-ups of %(program)s (%(product)s) are booked on %(account)s, not "
                    "on a liability account: set a liability account (customer deposits, "
                    "say) as the income account of %(product)s first.",
                    program=program.display_name,
                    product=product.display_name or _("no product"),
                    account=account.display_name or _("no account"),
                )
            )
        return program, account

    @api.model
    def _client_refund_check_ewallet(self, refund):
        """Refuse, before anything is written, store credit that cannot be kept."""
        program, __ = self._client_refund_get_ewallet(refund)
        if refund.currency_id != program.currency_id:
            raise UserError(
                _(
                    "The eWallet holds %(currency)s: a refund in %(other)s is paid back "
                    "another way.",
                    currency=program.currency_id.name,
                    other=refund.currency_id.name,
                )
            )
        if not refund.partner_id:
            raise UserError(_("Store credit goes onto a client's eWallet: the refund has no client."))

    @api.model
    def _client_refund_get_deposit_credit(self, refund):
        """What of the fees `refund` keeps of a deposit stays the client's as
        store credit instead of being invoiced as income: all of them when
        the policies that keep them say so (deposit_kept), else nothing. Only
        deposits ask (an advance payment, an eWallet top-up): the fee kept of
        a service, a visit pack or a membership is income."""
        fees = refund.fee_ids.filtered("amount")
        if fees and all(fee.policy_id.deposit_kept == "store_credit" for fee in fees):
            return refund.amount_fee
        return 0.0

    @api.model
    def _client_refund_credit_ewallet(self, refund, amount, lines_to_settle):
        """Put `amount` on the client's eWallet (made if the client has none):
        what the refund owes the client (`lines_to_settle`, open credit on the
        receivable) moves onto the eWallet's liability by an entry reconciled
        with those lines, and the points go up through the card's history.
        Returns the register's values."""
        __, liability = self._client_refund_get_ewallet(refund)
        card = self._client_refund_add_credit(refund, amount)
        currency = refund.currency_id
        receivable = lines_to_settle.account_id[:1]
        label = _(
            "%(refund)s: %(amount)s kept as store credit on eWallet %(card)s",
            refund=refund.name,
            amount=currency.format(amount),
            card=card.code,
        )
        move = self.env["account.move"]._client_refund_post_transfer(
            refund, amount, receivable, liability, label
        )
        if not move:
            raise UserError(
                _(
                    "%s has no miscellaneous journal to keep refunds as store credit with.",
                    refund.company_id.name,
                )
            )
        (move.line_ids.filtered(lambda line: line.account_id == receivable) | lines_to_settle.sudo()).reconcile()
        return {
            "ewallet_card_id": card.id,
            "ewallet_move_id": move.id,
            "amount_ewallet": amount,
        }

    @api.model
    def _client_refund_add_credit(self, refund, amount):
        """Put `amount` on the client's eWallet (made if the client has none)
        through its history, which names the refund. Returns the card."""
        program, __ = self._client_refund_get_ewallet(refund)
        client = refund.partner_id.commercial_partner_id
        # sudo: front-desk staff need no Loyalty rights
        Card = self.sudo()
        today = refund.company_id._client_refund_today()
        card = Card.search(
            [
                ("program_id", "=", program.id),
                ("partner_id", "=", client.id),
                "|",
                ("expiration_date", "=", False),
                ("expiration_date", ">=", today),
            ],
            limit=1,
        ) or Card.create({"program_id": program.id, "partner_id": client.id, "points": 0.0})
        points = float_round(amount / program._client_refund_get_point_value(), precision_digits=2)
        # the refund that put it there: no sale of the card
        card._client_refund_change_points(refund, refund._get_points_description(), points)
        return card

    def _client_refund_take_back_credit(self, refund):
        """Undo the store credit `refund` put on this eWallet: its points come
        off and its entry is reversed; refused when they have been spent."""
        self.ensure_one()
        card = self.sudo()
        entry = refund.ewallet_move_id.sudo()
        if entry.state != "posted" or entry.reversal_move_ids.filtered(lambda move: move.state == "posted"):
            raise UserError(
                _(
                    "The entry %(entry)s that put %(refund)s on the eWallet is no longer "
                    "posted as it was: the store credit is taken back by hand.",
                    entry=entry.display_name,
                    refund=refund.name,
                )
            )
        credited = sum(
            card.history_ids.filtered(
                lambda line: line.order_model == refund._name and line.order_id == refund.id
            ).mapped("issued")
        )
        if float_compare(card.points, credited, precision_digits=2) < 0:
            raise UserError(
                _(
                    "%(refund)s put %(credited)s points on eWallet %(card)s, which has "
                    "%(left)s left: %(spent)s were spent. Its store credit cannot be "
                    "taken back.",
                    refund=refund.name,
                    credited=credited,
                    card=card.code,
                    left=card.points,
                    spent=float_round(credited - card.points, precision_digits=2),
                )
            )
        card._client_refund_change_points(
            refund, _("%s cancelled: its store credit taken back", refund.name), -credited
        )
        # sudo: as the entry was made; the refund's own path undoes it
        refund_own_path(entry, undoing=refund)._reverse_moves([{"ref": _("%s cancelled", refund.name)}], cancel=True)
