from collections import defaultdict

from odoo import Command, _, api, fields, models
from odoo.exceptions import UserError
from odoo.osv import expression
from odoo.tools import SQL, float_compare, float_is_zero, float_round

from .client_refund_source import get_refund_own_path, refund_own_path


class AccountMove(models.Model):
    _name = "account.move"
    _inherit = ["account.move", "client.refund.source", "client.refund.page.row"]
    _client_refund_payout_methods = ("journal", "card", "credit", "ewallet")
    _client_refund_by_lines = True

    client_refund_ids = fields.One2many(
        comodel_name="client.refund",
        inverse_name="source_move_id",
        string="Client Refunds",
        groups="client_refund.group_client_refund_user",
    )

    # The client's Refund page: one row per invoice (see res.partner)
    client_refund_left = fields.Monetary(
        string="Left to Refund",
        compute="_compute_client_refund_row",
        groups="client_refund.group_client_refund_user",
    )

    def _compute_client_refund_row(self):
        """What the client's Refund page shows of each invoice; the lines, payments
        and journals of every invoice are read together (prefetch)."""
        for move in self:
            # sudo: front-desk staff may have no accounting rights on payments
            sudo_move = move.sudo()
            lines = sudo_move.invoice_line_ids.filtered(lambda line: line.display_type == "product")
            move.client_refund_products = ", ".join(
                dict.fromkeys(
                    (line.product_id.name or line.name or "").strip() for line in lines
                )
            )
            counterparts = sudo_move.line_ids.matched_credit_ids.credit_move_id.filtered(
                lambda line: line.journal_id.type in ("cash", "bank")
            )
            move.client_refund_paid_by = ", ".join(
                dict.fromkeys(
                    line.journal_id._client_refund_get_way_label(
                        card_transaction=line.move_id.origin_payment_id.payment_transaction_id,
                    )
                    for line in counterparts
                )
            ) or (_("Not paid") if move.payment_state == "not_paid" else False)
            if move.payment_state == "partial":
                # what is left to refund is credited; only what was paid goes back
                move.client_refund_paid_by = _(
                    "%(ways)s, part paid: %(paid)s of %(total)s",
                    ways=move.client_refund_paid_by,
                    paid=move.currency_id.format(move.amount_total - move.amount_residual),
                    total=move.currency_id.format(move.amount_total),
                )
            move.client_refund_left = (
                move._client_refund_get_refundable_amount()
                if move.move_type == "out_invoice" and move.state == "posted"
                else 0.0
            )

    @api.depends_context("client_refund_picker", "uid")
    def _compute_display_name(self):
        """The refund wizard's invoice picker shows what staff recognise an
        invoice by: its date, amount, what it sold and what is left. Only of the
        invoices the user may read: the ORM names a many2one's record in sudo,
        and the context key is the caller's to send."""
        super()._compute_display_name()
        if not (
            self.env.context.get("client_refund_picker")
            and self.env.user.has_group("client_refund.group_client_refund_user")
        ):
            return
        readable = self.with_env(self.env(su=False))._filtered_access("read")
        for move in self.filtered(lambda move: move.id in readable.ids):
            move.display_name = " · ".join(
                filter(None, [
                    move.name,
                    move.invoice_date and fields.Date.to_string(move.invoice_date),
                    move.currency_id.format(move.amount_total),
                    move.client_refund_products,
                    _("left %s", move.currency_id.format(move.client_refund_left)),
                ])
            )

    def _post(self, soft=True):
        posted = super()._post(soft=soft)
        credit_notes = posted.filtered(lambda m: m.move_type == "out_refund" and m.reversed_entry_id)
        credit_notes.reversed_entry_id._client_refund_check_not_over_credited()
        if not get_refund_own_path(self.env):
            credit_notes._client_refund_check_policy_of_credit_note()
        return posted

    def _client_refund_check_policy_of_credit_note(self):
        """A credit note made outside the refund wizard (core's Credit Note
        button) of what a refund policy declares final sale, or sold before its
        window, is for a refund manager or an accountant: the wizard applies the
        policy. Such a credit note has no reason, so no fee is kept (see the
        README)."""
        user = self.env.user
        if user.has_group("client_refund.group_client_refund_manager") or user.has_group(
            "account.group_account_manager"
        ):
            return
        # sudo: the policies hold for billing users, who may not read them
        Policy = self.env["client.refund.policy"].sudo()
        # sudo: the till's invoices are refunded at the till
        for credit_note in self.filtered(lambda move: not move.reversed_entry_id.sudo().pos_order_ids):
            invoice = credit_note.reversed_entry_id
            company = invoice.company_id
            # the invoice's lines, not the draft credit note's, which its author edits
            lines = invoice.invoice_line_ids.filtered(lambda line: line.display_type == "product")
            policies = set(Policy._get_policies(lines.product_id, company).values())
            if lines.filtered(lambda line: not line.product_id):
                policies.add(company.sudo().client_refund_policy_id)
            today = company._client_refund_today()
            for policy in policies:
                past_window = policy.window_days and invoice.invoice_date and (
                    (today - invoice.invoice_date).days > policy.window_days
                )
                if policy.final_sale or past_window:
                    raise UserError(
                        _(
                            "%(invoice)s falls under the refund policy %(policy)s (%(rule)s): "
                            "refund it with its Refund button, where the policy applies, or "
                            "ask a refund manager.",
                            invoice=invoice.display_name,
                            policy=policy.name,
                            rule=_("final sale") if policy.final_sale else _(
                                "refunds within %s days", policy.window_days
                            ),
                        )
                    )

    def write(self, vals):
        if vals.get("state") in ("draft", "cancel"):
            self._client_refund_check_bookings_kept(_("reset or cancelled"), moves=self)
        if (
            not self.env.su
            and ("reversed_entry_id" in vals or "move_type" in vals)
            and any(move.state == "posted" for move in self)
        ):
            # what a posted credit note credits is counted against its invoice
            raise UserError(_("A posted entry keeps its type and the invoice it reverses."))
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_client_refund_booking(self):
        self._client_refund_check_bookings_kept(_("deleted"), moves=self)

    def button_draft(self):
        self._client_refund_check_bookings_kept(_("reset to draft"), moves=self)
        return super().button_draft()

    def button_cancel(self):
        self._client_refund_check_bookings_kept(_("cancelled"), moves=self)
        return super().button_cancel()

    @api.model
    def _client_refund_check_bookings_kept(self, action, moves=None, payments=None, refunded=True):
        """Refuse to `action` the entries or payouts a refund booked, or
        (`refunded`) the invoices it refunded, but on the refund's own path (see
        refund_own_path): core's buttons on a move, a payment or a match would
        leave the register saying what is no longer booked, and reopen what the
        refund settled, or what the client paid, to be refunded again."""
        moves = moves or self.browse()
        payments = payments or self.env["account.payment"]
        own_path = get_refund_own_path(self.env)
        if not (moves.ids or payments.ids) or (own_path and own_path.undoing_ids is None):
            return
        domains = [[("payment_ids", "in", payments.ids)]] if payments.ids else []
        if moves.ids:
            fnames = [
                "credit_note_ids", "fee_move_ids", "payment_ids.move_id", "ewallet_move_id",
                "breakage_move_id",
            ]
            if refunded:
                fnames += ["source_move_id", "sale_move_ids"]
            domains += [[(fname, "in", moves.ids)] for fname in fnames]
        # sudo: every refund counts, whoever made it
        refunds = self.env["client.refund"].sudo().search(
            expression.AND([[("state", "!=", "cancel")], expression.OR(domains)])
        )
        if own_path:
            # a refund undoes its own bookings, not another's
            refunds = refunds.filtered(lambda refund: refund.id not in own_path.undoing_ids)
        if refunds:
            raise UserError(
                _(
                    "%(documents)s belongs to refund %(refunds)s: it cannot be %(action)s "
                    "here. A refund manager cancels the refund, which undoes what it booked "
                    "and keeps the register true.",
                    refunds=", ".join(refunds.mapped("name")),
                    documents=", ".join((moves.sudo() | payments.sudo().move_id).mapped("display_name")),
                    action=action,
                )
            )
        if moves.ids:
            # sudo: every dispute counts; its entries follow what Stripe says
            disputes = self.env["client.refund.dispute"].sudo().search(
                ["|", ("withdrawal_move_id", "in", moves.ids), ("reinstatement_move_id", "in", moves.ids)]
            )
            if disputes:
                raise UserError(
                    _(
                        "%(documents)s belongs to card dispute %(disputes)s: it follows what "
                        "Stripe says and cannot be %(action)s here.",
                        documents=", ".join(moves.sudo().mapped("display_name")),
                        disputes=", ".join(disputes.mapped("display_name")),
                        action=action,
                    )
                )

    @api.model
    def _client_refund_undo(self, refund):
        """Undo what `refund` booked, on its own path (core's buttons are closed
        on it): its store credit comes back off the eWallet, its payouts are
        cancelled, its credit notes and breakage entry reset and cancelled, and
        what they had settled is matched again as it was (an invoice with the
        client's payment). Returns the names of the entries undone."""
        # sudo: the register undoes what it booked for a refund manager, who may
        # have no accounting rights; core's lock dates still apply
        undoing = refund_own_path(refund.sudo(), undoing=refund)
        booked = undoing._get_booked_moves()
        # core deletes the draft entry of a payment it cancels
        booked_names = booked.mapped("display_name")
        settled = (
            booked.line_ids.matched_debit_ids.debit_move_id
            | booked.line_ids.matched_credit_ids.credit_move_id
        ) - booked.line_ids
        if refund.ewallet_move_id:
            # the store credit comes back off the wallet, if it is still there
            refund.ewallet_card_id._client_refund_take_back_credit(refund)
        payouts = undoing.payment_ids.filtered(lambda payment: payment.state != "canceled")
        # cancelled as they are, numbered: core deletes a payment's draft entry,
        # which it refuses once a later entry of the journal has a number
        payouts.action_cancel()
        entries = (undoing.credit_note_ids | undoing.fee_move_ids | undoing.breakage_move_id).filtered(
            lambda move: move.state == "posted"
        )
        entries.button_draft()
        entries.button_cancel()
        reopened = settled.filtered(lambda line: line.parent_state == "posted" and not line.reconciled)
        for lines in reopened.grouped("account_id").values():
            if lines.filtered(lambda line: line.balance > 0) and lines.filtered(
                lambda line: line.balance < 0
            ):
                lines.reconcile()
        return booked_names

    def _reverse_moves(self, default_values_list=None, cancel=False):
        """Link each credit note line to the invoice line it copies, however the
        credit note is made (core's reversal copies the lines in their order):
        core's credit notes are then counted line by line. It writes the addon's
        own column only, so core's behaviour is the same; the addon's own credit
        notes name their lines already. What a refund booked is reversed by the
        refund only."""
        # a credit note of part of a refunded invoice is counted; cancelling
        # the invoice by its reversal would reopen what paid it
        self._client_refund_check_bookings_kept(_("reversed"), moves=self, refunded=cancel)
        default_values_list = default_values_list or [{} for move in self]
        copies_lines = [not values.get("line_ids") for values in default_values_list]
        reverse_moves = super()._reverse_moves(default_values_list, cancel=cancel)
        links = []
        for move, reverse_move, copied in zip(self, reverse_moves, copies_lines):
            if not copied or move.move_type != "out_invoice":
                continue
            originals = move.invoice_line_ids.filtered(lambda line: line.display_type == "product")
            copies = reverse_move.invoice_line_ids.filtered(
                lambda line: line.display_type == "product"
            )
            if originals.mapped("product_id") == copies.mapped("product_id"):
                links += [SQL("(%s, %s)", copy.id, original.id) for original, copy in zip(originals, copies)]
        if links:
            # one query for every line; origin_line_id is the addon's own column
            self.env["account.move.line"].flush_model(["origin_line_id"])
            self.env.cr.execute(
                SQL(
                    "UPDATE account_move_line AS line SET origin_line_id = link.origin "
                    "FROM (VALUES %s) AS link(id, origin) WHERE line.id = link.id",
                    SQL(", ").join(links),
                )
            )
            self.env["account.move.line"].invalidate_model(["origin_line_id", "refund_line_ids"])
        return reverse_moves

    def action_client_refund(self):
        self.ensure_one()
        self._client_refund_check_refundable()
        return self.env["client.refund.wizard"]._get_launch_action(
            {"default_source_type": "invoice", "default_move_id": self.id}
        )

    # ------------------------------------------------------------------
    # The refund protocol (client.refund.source)
    # ------------------------------------------------------------------

    def _client_refund_get_source_type(self):
        return "invoice"

    @api.model
    def _client_refund_search_client_documents(self, client, limit):
        """Posted invoices with something left, but those selling only gift
        cards, eWallet top-ups, visit packs or memberships (refunded from the
        card or membership), and those of Point of Sale orders (refunded as
        the orders)."""
        invoices = self.search(
            [
                ("commercial_partner_id", "=", client.id),
                ("move_type", "=", "out_invoice"),
                ("state", "=", "posted"),
                ("payment_state", "!=", "reversed"),
                ("pos_order_ids", "=", False),
                ("amount_total", ">", 0),
            ],
            order="invoice_date desc, id desc",
            limit=limit,
        )
        # sudo: the fees refunds kept are given back by cancelling their refund
        invoices -= self.env["client.refund"].sudo().search(
            [("fee_move_ids", "in", invoices.ids)]
        ).fee_move_ids
        balance_products = self._client_refund_get_balance_products(
            invoices.invoice_line_ids.product_id
        )
        return invoices.filtered(
            lambda move: move.invoice_line_ids.filtered(
                lambda line: line.display_type == "product"
                and line.product_id not in balance_products
            )
        )

    def _client_refund_get_receipt_description(self):
        self.ensure_one()
        return ", ".join(
            dict.fromkeys(
                line.product_id.name or line.name
                for line in self.invoice_line_ids
                if line.display_type == "product"
            )
        )

    def _client_refund_get_settled_words(self, settled):
        """A credit note first settles what is owed on the invoice."""
        if self.currency_id.compare_amounts(settled, 0.0) <= 0:
            return ""
        return _("%s settles what the client still owes.", self.currency_id.format(settled))

    def _client_refund_get_sale_line_name(self, line):
        return line.name or line.product_id.display_name

    def _client_refund_get_sale_date(self):
        return self.invoice_date

    def _client_refund_get_sellers(self):
        return self.invoice_user_id | self.create_uid

    def _client_refund_get_policy_date(self):
        return self.invoice_date

    def _client_refund_get_policy_lines(self, refund):
        """Each invoice line the credit note credits, by its product: the
        lines asked, or every line left scaled to the amount."""
        self.ensure_one()
        changes = self._client_refund_get_credit_note_changes(refund)
        return [
            (line.product_id, self._client_refund_get_credit_note_total({line: values}))
            for line, values in changes.items()
        ]

    def _client_refund_check_sale_paid(self, what):
        # sudo: the invoice is read for staff who may have no Invoicing rights
        if self.sudo().payment_state not in ("paid", "in_payment"):
            raise UserError(
                _(
                    "%(invoice)s, which sold %(what)s, is not paid in full: nothing "
                    "of it is paid out in cash. Credit it (cancel the sale, or a "
                    "credit note for part of it) instead.",
                    invoice=self.display_name,
                    what=what.display_name,
                )
            )

    def _client_refund_check_refundable(self):
        # sudo: every refund counts, whoever made it; one query for every invoice
        fees_kept_by = {
            move: refund
            for refund in self.env["client.refund"].sudo().search([("fee_move_ids", "in", self.ids)])
            for move in refund.fee_move_ids.with_env(self.env)
        }
        for move in self:
            if move.move_type != "out_invoice":
                raise UserError(
                    _(
                        "%s is not a customer invoice: only customer invoices can be "
                        "refunded to a client.",
                        move.display_name,
                    )
                )
            if move.state != "posted":
                raise UserError(
                    _(
                        "Invoice %s is not posted: only posted invoices can be refunded.",
                        move.display_name,
                    )
                )
            fee_of = fees_kept_by.get(move)
            if fee_of:
                raise UserError(
                    _(
                        "%(invoice)s is the fee kept by refund %(refund)s: a refund manager "
                        "cancels the refund to give it back.",
                        invoice=move.display_name,
                        refund=fee_of.name,
                    )
                )
            # the refund user may have no Point of Sale rights; the orders are only
            # named in the message
            pos_orders = move.sudo().pos_order_ids
            if pos_orders:
                raise UserError(
                    _(
                        "Invoice %(invoice)s comes from the Point of Sale order "
                        "%(order)s: refund the order, so that its stock and till follow.",
                        invoice=move.display_name,
                        order=", ".join(pos_orders.mapped("name")),
                    )
                )

    def _client_refund_get_credited_amount(self):
        """Total of the posted credit notes of the invoice, whoever made them."""
        self.ensure_one()
        credit_notes = self.reversal_move_ids.filtered(
            lambda m: m.state == "posted" and m.move_type == "out_refund"
        )
        return sum(credit_notes.mapped("amount_total"))

    def _client_refund_get_refundable_amount(self, exclude_refund=None):
        self.ensure_one()
        return self.currency_id.round(
            self.amount_total
            - self._client_refund_get_credited_amount()
            - self._client_refund_get_amount_waiting_for_card(exclude_refund)
            - self._get_reconciled_payments()._client_refund_get_refunded_outside(
                self.currency_id
            )
        )

    def _client_refund_compute_amount(self, refund):
        """A full refund credits what is left; a refund by lines what a credit
        note of those lines totals; a refund by amount that amount, which the
        credit note is made to hit."""
        self.ensure_one()
        if refund.line_ids:
            return self._client_refund_get_credit_note_total(
                self._client_refund_get_credit_note_changes(refund)
            )
        if refund.scope == "full":
            return self._client_refund_get_refundable_amount(exclude_refund=refund)
        return refund.amount

    def _client_refund_get_refunded_products(self, refund):
        if refund.line_ids:
            return refund.line_ids.move_line_id.product_id
        return self.invoice_line_ids.product_id

    def _client_refund_get_tenders(self):
        """How the client paid the invoice and what each way has left to give
        back, then what is still owed."""
        self.ensure_one()
        currency = self.currency_id
        tenders = [
            (journal.name, left)
            for journal, left in self._client_refund_get_tender_journals().items()
            if not currency.is_zero(left)
        ]
        card_left = self._client_refund_get_card_refundable_amount()
        if not currency.is_zero(card_left):
            last4 = self._client_refund_get_card_transaction().token_id.payment_details
            tenders.append((_("Card ending %s", last4) if last4 else _("Card"), card_left))
        if not currency.is_zero(self.amount_residual):
            tenders.append((_("Still owed"), self.amount_residual))
        return tenders

    def _client_refund_get_tender_journals(self):
        """What each cash or bank journal paid on the invoice, less what refunds
        paid back through it; card payments are counted on the card."""
        self.ensure_one()
        left = defaultdict(float)
        # sudo: as core's payment widget, every payment of the invoice counts
        for partial in self.sudo()._get_all_reconciled_invoice_partials():
            line = partial["aml"]
            card_payment = line.payment_id.payment_transaction_id.provider_code == "stripe"
            if partial["is_exchange"] or card_payment or line.journal_id.type not in ("cash", "bank"):
                continue
            left[line.journal_id.with_env(self.env)] += partial["amount"]
        # sudo: every refund of the invoice counts, whoever made it
        paid_back = self.env["client.refund"].sudo()._read_group(
            [
                ("source_move_id", "=", self.id),
                ("state", "=", "done"),
                ("payout_journal_id", "!=", False),
            ],
            ["payout_journal_id"],
            ["amount_paid_back:sum"],
        )
        for journal, amount in paid_back:
            if journal.with_env(self.env) in left:
                left[journal.with_env(self.env)] -= amount
        return {journal: self.currency_id.round(amount) for journal, amount in left.items()}

    def _client_refund_get_card_transaction(self):
        """The Stripe payment of the invoice that has the most left to refund."""
        self.ensure_one()
        return self.sudo().transaction_ids.filtered(
            lambda tx: tx.provider_code == "stripe"
            and tx.operation != "refund"
            and tx.state == "done"
            and tx.currency_id == self.currency_id
        ).sorted(lambda tx: tx._client_refund_get_card_refundable_amount(), reverse=True)[:1]

    def _client_refund_get_paid_back_amount(self, amount):
        """What a credit note of `amount` gives back in money: the credit note
        first settles what the client still owes on the invoice."""
        self.ensure_one()
        return self.currency_id.round(max(amount - self.amount_residual, 0.0))

    def _client_refund_get_line_balances(self):
        """For each product line: the quantity and amount (tax included) left to
        refund, after every posted credit note line of this invoice linked to it."""
        self.ensure_one()
        lines = self.invoice_line_ids
        # one query for every line, even when their cache was partly invalidated
        lines.fetch(["display_type", "price_total", "quantity", "product_uom_id"])
        lines = lines.filtered(lambda line: line.display_type == "product")
        refunded = {
            origin: (quantity, total)
            for origin, quantity, total in self.env["account.move.line"].sudo()._read_group(
                [
                    ("origin_line_id", "in", lines.ids),
                    ("parent_state", "=", "posted"),
                    # only the invoice's own credit notes credit it
                    ("move_id.move_type", "=", "out_refund"),
                    ("move_id.reversed_entry_id", "=", self.id),
                ],
                ["origin_line_id"],
                ["quantity:sum", "price_total:sum"],
            )
        }
        balances = {}
        for line in lines:
            refunded_quantity, refunded_total = refunded.get(line, (0.0, 0.0))
            line_total = self.currency_id.round(line.price_total)
            amount_left = self.currency_id.round(line_total - refunded_total)
            if line_total:
                quantity_left = line.quantity * amount_left / line_total
            else:
                quantity_left = line.quantity - refunded_quantity
            # signed: a discount or reward line is negative and is credited too
            balances[line] = {
                "quantity": float_round(
                    max(quantity_left, 0.0),
                    precision_rounding=line.product_uom_id.rounding or 0.01,
                ),
                "amount": amount_left,
            }
        return balances

    def _client_refund_get_asked_quantities(self, refund, balances=None):
        """{invoice line: quantity} of a refund by lines, each checked against
        what is left of its line."""
        balances = balances if balances is not None else self._client_refund_get_line_balances()
        quantities = {}
        for refund_line in refund.line_ids:
            line = refund_line.move_line_id
            balance = balances.get(line)
            if balance is None:
                raise UserError(
                    _(
                        "Line %(line)s is not a product line of invoice %(invoice)s.",
                        line=line.display_name,
                        invoice=self.display_name,
                    )
                )
            # a line named twice is checked against what the first left
            self._client_refund_check_quantity(
                refund_line.quantity,
                balance["quantity"] - quantities.get(line, 0.0),
                line.product_uom_id,
                line.name,
            )
            quantities[line] = quantities.get(line, 0.0) + refund_line.quantity
        return quantities

    def _client_refund_get_credit_note_total(self, changes):
        """What a credit note of the invoice lines `changes` names totals, tax
        included: {invoice line: {"quantity": ..., "price_unit": ...}} (what is
        not given is the line's own), computed as core computes an invoice's
        totals before it is saved."""
        self.ensure_one()
        AccountTax = self.env["account.tax"]
        base_lines = []
        for line, values in changes.items():
            base_line = self._prepare_product_base_line_for_taxes_computation(line)
            base_line.update(values)
            base_lines.append(base_line)
        AccountTax._add_tax_details_in_base_lines(base_lines, self.company_id)
        AccountTax._round_base_lines_tax_details(base_lines, self.company_id)
        totals = AccountTax._get_tax_totals_summary(
            base_lines, self.currency_id, self.company_id, cash_rounding=self.invoice_cash_rounding_id
        )
        return self.currency_id.round(abs(totals["total_amount_currency"]))

    def _client_refund_get_credit_note_changes(self, refund):
        """{invoice line: its values on the credit note}: the quantities asked of
        a refund by lines; otherwise every line left, its price scaled to the
        amount, the last cents put on one line so that the taxes round to the
        amount exactly. An amount the taxes cannot reach is refused here, before
        anything is written or sent to Stripe, with the amounts they can."""
        self.ensure_one()
        if refund.line_ids:
            return {
                line: {"quantity": quantity}
                for line, quantity in self._client_refund_get_asked_quantities(refund).items()
            }
        open_amounts = {
            line: balance["amount"]
            for line, balance in self._client_refund_get_line_balances().items()
            if not self.currency_id.is_zero(balance["amount"])
        }
        if not open_amounts or self.currency_id.is_zero(sum(open_amounts.values())):
            raise UserError(_("Invoice %s has nothing left to refund.", self.display_name))
        amount = refund.amount
        ratio = amount / sum(open_amounts.values())
        price_digits = self.env["decimal.precision"].precision_get("Product Price")
        changes = {}
        for line, open_amount in open_amounts.items():
            factor = open_amount / self.currency_id.round(line.price_total) * ratio
            # a line credited in full keeps its own price, to the last digit;
            # the others as the credit note will store them
            changes[line] = {
                "quantity": line.quantity,
                "price_unit": line.price_unit
                if float_is_zero(factor - 1.0, precision_digits=9)
                else float_round(line.price_unit * factor, precision_digits=price_digits),
            }
        return self._client_refund_adjust_credit_note_prices(changes, amount)

    def _client_refund_adjust_credit_note_prices(self, changes, amount):
        """Scaled prices are rounded line by line: move the last cents onto one
        line so that the credit note totals exactly `amount`. Taxes round too, so
        a line whose rounding lands on the amount is looked for."""
        currency = self.currency_id
        reached = {self._client_refund_get_credit_note_total(changes)}
        if currency.is_zero(amount - min(reached)):
            return changes
        price_digits = self.env["decimal.precision"].precision_get("Product Price")
        price_step = 10**-price_digits
        lines = sorted(
            (line for line, values in changes.items() if values["price_unit"]),
            key=lambda line: (line.quantity, -line.price_total),
        )
        for line in lines[:5]:
            original = changes[line]
            total = self._client_refund_get_credit_note_total(changes)
            total_per_price_unit = (
                self._client_refund_get_credit_note_total({line: original}) / original["price_unit"]
            )
            price = original["price_unit"] + (amount - total) / total_per_price_unit
            for steps in (0, -1, 1, -2, 2):
                changes[line] = {
                    **original,
                    "price_unit": float_round(price + steps * price_step, precision_digits=price_digits),
                }
                total = self._client_refund_get_credit_note_total(changes)
                if currency.is_zero(amount - total):
                    return changes
                reached.add(total)
            changes[line] = original
        below = max((total for total in reached if total < amount), default=None)
        above = min((total for total in reached if total > amount), default=None)
        raise UserError(
            _(
                "The taxes of this invoice round a credit note to %(reachable)s, not "
                "%(asked)s. Refund one of those, or pick lines instead.",
                reachable=_(" or ").join(
                    currency.format(total) for total in (below, above) if total is not None
                ),
                asked=currency.format(amount),
            )
        )

    def _client_refund_check_not_over_credited(self):
        """Refuse a credit note that would credit its invoice beyond its total: for
        every credit note of the companies that keep the setting on (the
        default), and always where a card refund of the register waits for
        Stripe, which makes it whatever is posted meanwhile."""
        for invoice in self.filtered(lambda m: m.move_type == "out_invoice"):
            waiting = invoice._client_refund_get_amount_waiting_for_card()
            credited = invoice._client_refund_get_credited_amount() + waiting
            limited = waiting or invoice.company_id.client_refund_limit_credit_notes
            if limited and invoice.currency_id.compare_amounts(credited, invoice.amount_total) > 0:
                raise UserError(
                    _(
                        "Invoice %(invoice)s would be credited %(credited)s, more than "
                        "its total of %(total)s.",
                        invoice=invoice.display_name,
                        credited=invoice.currency_id.format(credited),
                        total=invoice.currency_id.format(invoice.amount_total),
                    )
                )
            invoice._client_refund_check_lines_kept_for_card()

    def _client_refund_check_lines_kept_for_card(self):
        """The lines a card refund waiting for Stripe takes stay for it: another
        credit note must leave them, or the refund Stripe pays could not be
        booked."""
        self.ensure_one()
        reserved = {}
        for refund_line in self._client_refund_get_waiting_card_refunds().line_ids:
            line = refund_line.move_line_id
            reserved[line] = reserved.get(line, 0.0) + refund_line.quantity
        if not reserved:
            return
        balances = self._client_refund_get_line_balances()
        for line, quantity in reserved.items():
            if float_compare(
                balances[line]["quantity"], quantity, precision_rounding=line.product_uom_id.rounding or 0.01
            ) < 0:
                raise UserError(
                    _(
                        "A card refund of invoice %(invoice)s waiting for Stripe takes "
                        "%(quantity)s of %(line)s: credit it once Stripe has answered.",
                        invoice=self.display_name,
                        quantity=quantity,
                        line=line.name,
                    )
                )

    def _client_refund_check_own_request(self, refund):
        refundable = self._client_refund_get_refundable_amount(exclude_refund=refund)
        if self.currency_id.is_zero(refundable):
            raise UserError(
                _("Invoice %s has been refunded in full already.", self.display_name)
            )
        if refund.line_ids:
            self._client_refund_get_asked_quantities(refund)
        # what the lines credit counts too: money already gone back outside
        # the register (Stripe Dashboard refunds) leaves less than the lines
        self._client_refund_check_amount(
            refund,
            refundable,
            _(
                "Only %(left)s of invoice %(invoice)s is left to refund, not %(asked)s.",
                left=self.currency_id.format(refundable),
                invoice=self.display_name,
                asked=self.currency_id.format(refund.amount),
            ),
        )
        if not refund.line_ids:
            # an amount the taxes cannot reach is refused now, not once Stripe paid it
            self._client_refund_get_credit_note_changes(refund)
        if (refund.payout_method == "ewallet" or refund.amount_ewallet) and (
            self._get_reconciled_payments().currency_id - self.currency_id
        ):
            raise UserError(
                _(
                    "Invoice %s was paid in another currency than its own: its refund is "
                    "paid back as it was paid, not onto the eWallet.",
                    self.display_name,
                )
            )

    # ------------------------------------------------------------------
    # Doing it
    # ------------------------------------------------------------------

    def _client_refund_execute(self, refund):
        """Credit the invoice as `refund` says, settle the credit note with the
        invoice and give back what the client had paid. Returns what was created."""
        self.ensure_one()
        # A refund of all that is left undoes the invoice's matches before its
        # credit note takes a number: core keeps that number locked until the
        # transaction ends (_locked_increment), and the other refunds of the
        # journal wait for whatever is done after it.
        applied_amounts = None
        if self.currency_id.is_zero(self._client_refund_get_refundable_amount() - refund.amount):
            applied_amounts = self._client_refund_unmatch()
        credit_note = self._client_refund_create_credit_note(refund)
        to_give_back = self._client_refund_settle(credit_note, applied_amounts)
        fee_invoice, to_give_back = self._client_refund_keep_fee(refund, to_give_back)
        payments = self.env["account.payment"]
        results = {}
        onto_ewallet = (
            sum(to_give_back.values()) if refund.payout_method == "ewallet" else refund.amount_ewallet
        )
        if onto_ewallet and to_give_back:
            if to_give_back and any(line.currency_id != refund.currency_id for line in to_give_back):
                raise UserError(
                    _(
                        "Invoice %s was paid in another currency than its own: its refund "
                        "is paid back as it was paid, not onto the eWallet.",
                        self.display_name,
                    )
                )
            # the eWallet's part first, from the first lines; the rest one other way
            ewallet_lines, to_give_back = self._client_refund_split_give_back(to_give_back, onto_ewallet)
            results = self.env["loyalty.card"]._client_refund_credit_ewallet(
                refund,
                self.currency_id.round(onto_ewallet),
                self.env["account.move.line"].concat(*ewallet_lines),
            )
        if refund.payout_method in ("journal", "card") and to_give_back:
            payments = payments._client_refund_pay_back_lines(refund, to_give_back)
        pickings = self._client_refund_return_products(refund, credit_note)
        return {
            "credit_note_ids": [Command.link(credit_note.id)],
            "fee_move_ids": [Command.link(fee_invoice.id)] if fee_invoice else [],
            "payment_ids": [Command.link(p.id) for p in payments],
            "picking_ids": [Command.link(p.id) for p in pickings],
            "amount": credit_note.amount_total,
            "amount_paid_back": sum(
                payment.currency_id._convert(
                    payment.amount, self.currency_id, self.company_id, payment.date
                )
                for payment in payments
            ),
            # store credit: what went onto the eWallet
            **results,
        }

    @api.model
    def _client_refund_post_transfer(self, refund, amount, debit_account, credit_account, label):
        """A posted miscellaneous entry of the refund's company, dated today, that
        moves `amount` (in the refund's currency) from `credit_account` to
        `debit_account` for the refund's client; empty when the company has no
        miscellaneous journal."""
        company = refund.company_id
        currency = refund.currency_id
        # sudo: the refund books what it does for staff without accounting rights
        journal = self.env["account.journal"].sudo().search(
            [("company_id", "=", company.id), ("type", "=", "general")], limit=1
        )
        if not journal:
            return self.sudo().browse()
        date = company._client_refund_today()
        balance = currency._convert(amount, company.currency_id, company, date)
        line_vals = {
            "partner_id": refund.partner_id.commercial_partner_id.id,
            "currency_id": currency.id,
            "name": label,
        }
        move = self.sudo().with_company(company).create(
            {
                "move_type": "entry",
                "journal_id": journal.id,
                "date": date,
                "ref": label,
                "line_ids": [
                    Command.create(
                        dict(line_vals, account_id=debit_account.id, balance=balance, amount_currency=amount)
                    ),
                    Command.create(
                        dict(line_vals, account_id=credit_account.id, balance=-balance, amount_currency=-amount)
                    ),
                ],
            }
        )
        move.action_post()
        return move

    @api.model
    def _client_refund_keep_fee(self, refund, to_give_back):
        """Invoice the fees `refund` keeps (see client.refund.fees) and settle
        them from `to_give_back` ({open client credit line: amount}), the money
        the client paid, first lines first. Returns (the fee invoice, what is
        left to give back). What the client paid does not cover is left due on
        the fee invoice."""
        if refund.currency_id.is_zero(refund.amount_fee):
            return self.browse(), to_give_back
        fee_invoice = self._client_refund_create_fee_invoice(refund)
        fee_line = self._client_refund_get_receivable_lines(fee_invoice)
        rest = {}
        for line, amount in to_give_back.items():
            if fee_line.reconciled or line.account_id != fee_line.account_id:
                rest[line] = amount
                continue
            residual_before = line.amount_residual_currency
            (fee_line + line).reconcile()
            left = amount - (line.amount_residual_currency - residual_before)
            if not line.currency_id.is_zero(left) and left > 0:
                rest[line] = left
        return fee_invoice, rest

    @api.model
    def _client_refund_create_fee_invoice(self, refund):
        """A posted invoice of the fees `refund` keeps, one line per policy on
        its fee product: the product's income account and taxes book it."""
        company = refund.company_id
        partner = refund.partner_id.commercial_partner_id
        lines = []
        for fee in refund.fee_ids.filtered("amount"):
            product = fee.policy_id.fee_product_id
            if not product:
                raise UserError(
                    _("Refund policy %s keeps a fee but has no fee product: a refund manager "
                      "sets one.", fee.policy_id.name)
                )
            price, _total = self._client_refund_get_fee_price(product, fee.amount, refund)
            lines.append(
                Command.create(
                    {
                        "product_id": product.id,
                        "name": _(
                            "%(fee)s, %(refund)s (%(terms)s)",
                            fee=product.name,
                            refund=refund.name,
                            terms=fee.policy_id._get_fee_words(fee.fault),
                        ),
                        "quantity": 1.0,
                        "price_unit": price,
                        "tax_ids": [Command.set(self._client_refund_get_fee_taxes(product, refund).ids)],
                    }
                )
            )
        # sudo: the refund books its fee for staff without accounting rights
        fee_invoice = self.sudo().with_company(company).create(
            {
                "move_type": "out_invoice",
                "partner_id": partner.id,
                "currency_id": refund.currency_id.id,
                "invoice_date": company._client_refund_today(),
                "invoice_origin": refund.name,
                "ref": refund.name,
                "invoice_line_ids": lines,
            }
        )
        fee_invoice.action_post()
        if refund.currency_id.compare_amounts(fee_invoice.amount_total, refund.amount_fee):
            raise UserError(
                _(
                    "The fee invoice of %(refund)s totals %(total)s, not the %(fee)s "
                    "confirmed: nothing was refunded. Check the fee products' taxes.",
                    refund=refund.name,
                    total=refund.currency_id.format(fee_invoice.amount_total),
                    fee=refund.currency_id.format(refund.amount_fee),
                )
            )
        return fee_invoice

    @api.model
    def _client_refund_get_fee_taxes(self, product, refund):
        """The fee product's sale taxes in the refund's company, as the
        client's fiscal position maps them."""
        company = refund.company_id
        partner = refund.partner_id.commercial_partner_id
        # sudo: taxes and fiscal positions are read for staff without accounting rights
        taxes = product.sudo().taxes_id._filter_taxes_by_company(company)
        fiscal_position = self.env["account.fiscal.position"].sudo().with_company(company)._get_fiscal_position(partner)
        return fiscal_position.map_tax(taxes) if fiscal_position else taxes

    @api.model
    def _client_refund_get_fee_price(self, product, fee, refund):
        """(unit price, total tax included) of a fee of `fee` on `product`: the
        price whose total is `fee`, or the nearest total below it that the
        product's taxes can reach."""
        currency = refund.currency_id
        partner = refund.partner_id.commercial_partner_id
        taxes = self._client_refund_get_fee_taxes(product, refund)
        if not taxes:
            return fee, fee
        price_digits = self.env["decimal.precision"].precision_get("Product Price")

        def total_of(price):
            return currency.round(
                taxes.compute_all(price, currency=currency, product=product, partner=partner)["total_included"]
            )

        ratio = taxes.compute_all(fee, currency=currency, product=product, partner=partner)["total_included"] / fee
        price = float_round(fee / ratio, precision_digits=price_digits)
        below = None
        for steps in (0, -1, 1, -2, 2, -3, 3):
            candidate = float_round(price + steps * 10**-price_digits, precision_digits=price_digits)
            total = total_of(candidate)
            if currency.compare_amounts(total, fee) == 0:
                return candidate, fee
            if total < fee and (below is None or total > below[1]):
                below = (candidate, total)
        return below or (price, total_of(price))

    @api.model
    def _client_refund_split_give_back(self, to_give_back, amount):
        """({line: part}, {line: rest}): `amount` taken from the first lines of
        `to_give_back` ({open client credit line: amount}), the rest left."""
        taken, rest = {}, {}
        left = amount
        for line, line_amount in to_give_back.items():
            part = min(line_amount, left)
            left -= part
            if part > 0:
                taken[line] = part
            if line_amount - part > 0:
                rest[line] = line_amount - part
        return taken, rest

    def _client_refund_create_credit_note(self, refund):
        """The core reversal of the invoice, with only the lines and quantities
        refunded, or every line left scaled to the amount refunded."""
        default_values = self._prepare_client_refund_reversal_vals(refund)
        default_values["line_ids"] = [
            Command.create(line_values)
            for line_values in self._prepare_client_refund_credit_note_lines(refund)
        ]
        credit_note = self._reverse_moves([default_values])
        # the refund applied the policy already
        refund_own_path(credit_note)._post(soft=False)
        totals = {line.origin_line_id: line.price_total for line in credit_note.invoice_line_ids}
        # sudo: the register's lines are the addon's record
        for refund_line in refund.line_ids.sudo():
            refund_line.amount = totals.get(refund_line.move_line_id, 0.0)
        return credit_note

    def _client_refund_settle(self, credit_note, applied_amounts=None):
        """Reconcile the new credit note with the invoice; `applied_amounts`: the
        invoice's matches undone (see _client_refund_unmatch) when the refund
        credits all that was left. Returns the money this refund gives back:
        {open client credit line: amount in its currency}."""
        if applied_amounts is not None:
            self._client_refund_match(applied_amounts)
            # what each payment had paid on the invoice goes back, not more
            return {
                line: min(-line.amount_residual_currency, applied)
                for line, applied in applied_amounts.items()
                if not line.reconciled and line.balance < 0
            }
        credit_note_lines = self._client_refund_get_receivable_lines(credit_note)
        if not self.currency_id.is_zero(self.amount_residual):
            (self._client_refund_get_receivable_lines(self) + credit_note_lines).filtered(
                lambda line: not line.reconciled
            ).reconcile()
        return {
            line: -line.amount_residual_currency
            for line in credit_note_lines
            if not line.reconciled
        }

    def _client_refund_rematch(self, payout_moves=None):
        """Match the invoice with its credit notes first, then what is left open
        with the payments in and out: a fully credited invoice reads "reversed"
        and its credit notes are settled by the invoice they credit. Returns the
        amounts (in their currency) that the lines matched had paid on the
        invoice."""
        applied_amounts = self._client_refund_unmatch(payout_moves)
        self._client_refund_match(applied_amounts)
        return applied_amounts

    def _client_refund_unmatch(self, payout_moves=None):
        """Undo the invoice's own matches, and those of its credit notes with
        their payouts: a credit note already used on another invoice stays
        there. Returns {line unmatched: amount (in its currency) it had paid on
        the invoice, exchange differences included}."""
        self.ensure_one()
        invoice_lines = self._client_refund_get_receivable_lines(self)
        credit_note_lines = self._client_refund_get_receivable_lines(
            self.reversal_move_ids.filtered(lambda m: m.state == "posted")
        )
        # sudo: the payouts of earlier refunds of this invoice, whoever made them
        payout_moves = (payout_moves or self.browse()) | (
            self.sudo().client_refund_ids.payment_ids.move_id
        )
        partials = invoice_lines.matched_debit_ids | invoice_lines.matched_credit_ids
        for partial in credit_note_lines.matched_debit_ids:
            if partial.debit_move_id.move_id in payout_moves:
                partials |= partial
        counterparts = (partials.debit_move_id | partials.credit_move_id) - (
            invoice_lines | credit_note_lines
        )
        residual_before = {line: line.amount_residual_currency for line in counterparts}
        # the refund rematches what it settled: its own path
        refund_own_path(partials).unlink()
        return {
            line: residual_before[line] - line.amount_residual_currency
            for line in counterparts
        }

    def _client_refund_match(self, applied_amounts):
        """Match the invoice with its posted credit notes, then what is left
        open with the lines unmatched (`applied_amounts`'s). Each pair is
        matched on its own, so that an exchange difference sits on the match it
        comes from."""
        self.ensure_one()
        family = self._client_refund_get_receivable_lines(
            self | self.reversal_move_ids.filtered(lambda m: m.state == "posted")
        ).filtered(lambda line: not line.reconciled)
        family.reconcile()
        counterparts = self.env["account.move.line"].concat(*applied_amounts)
        open_lines = (family | counterparts).filtered(lambda line: not line.reconciled)
        if open_lines.filtered(lambda line: line.balance > 0) and open_lines.filtered(
            lambda line: line.balance < 0
        ):
            open_lines.reconcile()

    @api.model
    def _client_refund_get_receivable_lines(self, moves):
        return moves.line_ids.filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        )

    def _client_refund_return_products(self, refund, credit_note):
        """Return to stock the storable products credited that had been delivered;
        a refund of part of the amount takes no product back."""
        if refund.scope == "partial" and not refund.line_ids:
            return self.env["stock.picking"]
        quantities = {}
        for line in credit_note.invoice_line_ids:
            product = line.product_id
            if product.is_storable and line.quantity > 0:
                quantities[product] = quantities.get(
                    product, 0.0
                ) + line.product_uom_id._compute_quantity(line.quantity, product.uom_id)
        if not quantities:
            return self.env["stock.picking"]
        return self._client_refund_get_deliveries()._client_refund_return_products(quantities)

    def _client_refund_get_deliveries(self):
        """Deliveries of this invoice: done outgoing transfers to the client whose
        source document is the invoice or its origin (a sale order)."""
        self.ensure_one()
        return self.env["stock.picking"].search(
            [
                ("company_id", "=", self.company_id.id),
                ("origin", "in", [name for name in (self.name, self.invoice_origin) if name]),
                ("state", "=", "done"),
                ("picking_type_code", "=", "outgoing"),
                ("partner_id", "child_of", self.commercial_partner_id.id),
            ]
        )

    def _prepare_client_refund_credit_note_lines(self, refund):
        changes = self._client_refund_get_credit_note_changes(refund)
        lines = self.env["account.move.line"].concat(*changes)
        vals_list = lines.with_context(include_business_fields=True).copy_data()
        for line, values in zip(lines, vals_list):
            values.update(changes[line], origin_line_id=line.id)
        return vals_list

    def _prepare_client_refund_reversal_vals(self, refund):
        """The core reversal wizard's values, at the invoice's own rate so that no
        exchange difference is invented, and never posted in the future."""
        reversal = self.env["account.move.reversal"].new(
            {
                "move_ids": [Command.set(self.ids)],
                "company_id": self.company_id.id,
                "journal_id": self.journal_id.id,
                "date": self.company_id._client_refund_today(),
                "reason": _(
                    "%(refund)s, %(reason)s", refund=refund.name, reason=refund.reason_id.name
                ),
            }
        )
        return {
            **reversal._prepare_default_reversal(self),
            "invoice_currency_rate": self.invoice_currency_rate,
            "auto_post": "no",
        }
