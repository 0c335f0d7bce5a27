from collections import defaultdict

from odoo import Command, _, api, fields, models
from odoo.exceptions import UserError

from .client_refund_source import check_number, get_document_fields, get_source_fields


class ClientRefundDocument(models.AbstractModel):
    """What a refund refunds (client.refund): the one document, through one
    field per kind of refundable document (see client.refund.source), the
    sales it gives back, and the values and checks that the document decides
    on the model path: at confirm, approval and execution."""

    _name = "client.refund.document"
    _description = "Document a Refund Refunds"

    source_move_id = fields.Many2one(
        comodel_name="account.move",
        string="Source Invoice",
        readonly=True,
        index="btree_not_null",
        check_company=True,
    )
    source_payment_id = fields.Many2one(
        comodel_name="account.payment", readonly=True, index="btree_not_null", check_company=True
    )
    source_pos_order_id = fields.Many2one(
        comodel_name="pos.order", readonly=True, index="btree_not_null", check_company=True
    )
    source_card_id = fields.Many2one(
        comodel_name="loyalty.card",
        readonly=True,
        index="btree_not_null",
        help="Gift card, eWallet or visit pack refunded.",
    )
    source_membership_line_id = fields.Many2one(
        comodel_name="membership.membership_line",
        string="Source Membership",
        readonly=True,
        index="btree_not_null",
    )
    sale_move_ids = fields.Many2many(
        comodel_name="account.move",
        relation="client_refund_sale_move_rel",
        column1="refund_id",
        column2="move_id",
        string="Sold On Invoices",
        readonly=True,
        copy=False,
        help="The invoices whose sale the refund gives back, whichever document it "
        "was launched from: the refunds of one sale add up against the approval "
        "threshold.",
    )
    sale_pos_order_ids = fields.Many2many(
        comodel_name="pos.order",
        relation="client_refund_sale_pos_order_rel",
        column1="refund_id",
        column2="order_id",
        string="Sold On Orders",
        readonly=True,
        copy=False,
        help="The Point of Sale orders whose sale the refund gives back.",
    )
    source_reference = fields.Char(
        string="Document",
        compute="_compute_source_reference",
        store=True,
        help="Name of the document refunded.",
    )

    @api.depends(lambda self: [f"{fname}.display_name" for fname in self._get_source_fields().values()])
    def _compute_source_reference(self):
        for refund in self:
            source = refund._get_source(raise_if_none=False)
            refund.source_reference = source.display_name if source else False

    def action_view_source(self):
        source = self._get_source()
        return source._get_records_action(name=source._description)

    def _get_source(self, raise_if_none=True):
        """The one document refunded."""
        self.ensure_one()
        sources = [self[fname] for fname in self._get_source_fields().values() if self[fname]]
        if len(sources) != 1:
            if not raise_if_none and not sources:
                return None
            raise UserError(_("A refund refunds one document: choose what to refund."))
        return sources[0]

    @api.model
    def _get_source_fields(self):
        """{document model: its field}: the register's ``source_..._id`` fields."""
        return get_source_fields(self, prefix="source_")

    @api.model
    def _get_sale_document_fields(self):
        """{invoice or order model: its field}: the register's ``sale_..._ids`` fields."""
        return get_document_fields(self, prefix="sale_", field_type="many2many")

    def _prepare_values_from_source(self):
        """What decides money and approval, from the document refunded, never as
        the caller sent it: the kind of source, its currency and the amount the
        refund will really credit (in the source's currency)."""
        self.ensure_one()
        source = self._get_source()
        # a closed card or a cancelled invoice is said as such, before its amount
        source._client_refund_check_refundable()
        sale_fields = self._get_sale_document_fields()
        sold_on = {fname: [] for fname in sale_fields.values()}
        for document in source._client_refund_get_sale_documents():
            sold_on[sale_fields[document._name]].append(document.id)
        return {
            "source_type": source._client_refund_get_source_type(),
            "currency_id": source._client_refund_get_currency().id,
            "amount": source._client_refund_compute_amount(self),
            **{fname: [Command.set(ids)] for fname, ids in sold_on.items()},
        }

    @api.model
    def _check_new_request(self, vals):
        """Check a refund before the register takes a number for it; returns it,
        not saved, with what the register derives from the document."""
        refund = self.new(vals)
        refund.update(refund._prepare_values_from_source())
        refund.update(refund._prepare_policy_values())
        refund._check_request()
        return refund

    def _check_still_as_approved(self):
        """Execution lands on what was confirmed and approved, or stops."""
        self.ensure_one()
        amount = self._get_source()._client_refund_compute_amount(self)
        if self.currency_id.compare_amounts(amount, self.amount):
            raise UserError(
                _(
                    "Refund %(refund)s was asked for %(asked)s, but would now refund "
                    "%(amount)s: what is left to refund has changed. Reject or cancel "
                    "it, and refund again.",
                    refund=self.name,
                    asked=self.currency_id.format(self.amount),
                    amount=self.currency_id.format(amount),
                )
            )
        self._check_policy_as_approved()

    def _check_request(self):
        """Everything that refuses the refund, on the model path: at confirm,
        when it waits for approval and when it is made."""
        self.ensure_one()
        source = self._get_source()
        check_number(self.amount, _("The amount to refund"))
        journal = self.payout_journal_id
        if journal and journal.type not in ("cash", "bank"):
            raise UserError(_("%s is not a cash or bank journal.", journal.display_name))
        if journal and journal.company_id != self.company_id:
            raise UserError(
                _("%(journal)s is a journal of %(company)s, not of %(other)s.",
                  journal=journal.display_name, company=journal.company_id.name,
                  other=self.company_id.name)
            )
        source._client_refund_check_request(self)
        self._check_policy()
        if self.state == "draft":
            self._check_refunds_to_approve()
        if self.payout_method == "card":
            source._client_refund_check_card_request(self)
        if self.payout_method == "ewallet" or self.amount_ewallet:
            self.env["loyalty.card"]._client_refund_check_ewallet(self)
        if self.amount_ewallet and self.payout_method != "ewallet":
            source._client_refund_check_ewallet_split(self)
        if self.replaced_refund_id:
            self._check_replaced_refund()

    def _check_refunds_to_approve(self):
        """A new request fits what is left once the document's requests still
        waiting for a manager are counted: the same money is never asked twice,
        and the lines they refund stay theirs."""
        source = self._get_source()
        waiting = source._client_refund_get_refunds_to_approve(exclude_refund=self)
        if not waiting:
            return
        if source._client_refund_by_lines and waiting.line_ids:
            self._check_lines_kept_for(waiting)
        currency = self.currency_id
        left = max(
            source._client_refund_get_refundable_amount(exclude_refund=self)
            - sum(waiting.mapped("amount")),
            0.0,
        )
        if currency.compare_amounts(self.amount, left) > 0:
            raise UserError(
                _(
                    "Only %(left)s of %(document)s is left once the refunds waiting for "
                    "approval are counted (%(waiting)s), not %(asked)s.",
                    left=currency.format(left),
                    document=source.display_name,
                    waiting=", ".join(waiting.mapped("name")),
                    asked=currency.format(self.amount),
                )
            )

    def _check_lines_kept_for(self, waiting):
        """The lines that `waiting` refunds by lines stay for them: a new
        request names other lines, or what is left of them."""
        source = self._get_source()
        if not self.line_ids:
            raise UserError(
                _(
                    "%(waiting)s, waiting for approval, refunds lines of %(document)s: "
                    "refund other items (Some items), or wait for its approval.",
                    waiting=", ".join(waiting.mapped("name")),
                    document=source.display_name,
                )
            )
        balances = source._client_refund_get_line_balances()
        taken = defaultdict(float)
        for line in waiting.line_ids:
            taken[line._get_sold_line()] += line.quantity
        for line in self.line_ids:
            sold = line._get_sold_line()
            left = balances.get(sold, {}).get("quantity", 0.0) - taken[sold]
            source._client_refund_check_quantity(
                line.quantity, left, sold.product_uom_id, sold.display_name
            )
