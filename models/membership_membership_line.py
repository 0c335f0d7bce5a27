from odoo import _, api, fields, models
from odoo.exceptions import UserError


class MembershipLine(models.Model):
    _name = "membership.membership_line"
    _inherit = [
        "membership.membership_line",
        "mail.thread",
        "client.refund.balance.source",
        "client.refund.page.row",
    ]

    client_refund_ids = fields.One2many(
        comodel_name="client.refund",
        inverse_name="source_membership_line_id",
        string="Client Refunds",
        groups="client_refund.group_client_refund_user",
    )

    @api.model_create_multi
    def create(self, vals_list):
        # the chatter is there for the refunds that end a membership: invoicing one
        # logs nothing and adds no follower
        lines = super(
            MembershipLine,
            self.with_context(mail_create_nolog=True, mail_create_nosubscribe=True),
        ).create(vals_list)
        return lines.with_env(self.env)

    @api.depends("membership_id", "partner")
    def _compute_display_name(self):
        for line in self:
            line.display_name = _(
                "%(membership)s of %(client)s",
                membership=line.membership_id.display_name,
                client=line.partner.display_name,
            )

    @api.depends(
        "account_invoice_id.state",
        "account_invoice_id.amount_residual",
        "account_invoice_id.payment_state",
        "account_invoice_id.reversal_move_ids.state",
        "account_invoice_line.price_total",
        "date_cancel",
    )
    def _compute_state(self):
        """Core's state, but for the memberships the register refunded (or whose
        invoice it refunded): core cancels a paid membership at its first credit
        note, even a partial one, and forgets a membership whose invoice is
        credited in full. There a membership is cancelled when it has been
        cancelled (``date_cancel``) or its own invoice line (or the whole
        invoice) credited in full, and stays paid when only part of it was
        credited. Memberships the register never touched keep core's state."""
        result = super()._compute_state()
        # sudo: every refund counts, whoever made it
        refunds = self.env["client.refund"].sudo().search(
            [
                # the refund being made is still a draft when its credit note posts
                ("state", "not in", ("cancel", "failed")),
                "|",
                "|",
                ("source_membership_line_id", "in", self.ids),
                ("source_move_id", "in", self.account_invoice_id.ids),
                ("sale_move_ids", "in", self.account_invoice_id.ids),
            ]
        ) if self.ids else self.env["client.refund"]
        touched = self.filtered(
            lambda line: line in refunds.source_membership_line_id
            or line.account_invoice_id in (refunds.source_move_id | refunds.sale_move_ids)
        )
        invoice_lines = touched.account_invoice_line
        # one query for every line: what posted credit notes took off each
        # membership's own invoice line (other lines of the invoice aside)
        credited = dict(
            self.env["account.move.line"]
            .sudo()
            ._read_group(
                [("origin_line_id", "in", invoice_lines.ids), ("parent_state", "=", "posted")],
                ["origin_line_id"],
                ["price_total:sum"],
            )
        ) if invoice_lines.ids else {}
        for line in touched:
            invoice = line.account_invoice_id
            if invoice.state != "posted" and not line.date_cancel:
                continue
            invoice_line = line.account_invoice_line
            currency = invoice.currency_id
            credited_in_full = (
                bool(invoice_line)
                and currency.compare_amounts(
                    credited.get(invoice_line, 0.0), currency.round(invoice_line.price_total)
                )
                >= 0
            ) or currency.compare_amounts(
                # a credit note made by hand names no invoice line
                invoice._client_refund_get_credited_amount(), invoice.amount_total
            ) >= 0
            if line.date_cancel or credited_in_full:
                line.state = "canceled"
            elif line.state == "canceled" and invoice.payment_state in ("paid", "in_payment"):
                line.state = "paid"
        return result

    def action_client_refund(self):
        self.ensure_one()
        self._client_refund_check_refundable()
        return self.env["client.refund.balance.wizard"]._get_launch_action(
            {"default_membership_line_id": self.id}
        )

    # The client's Refund page: one row per membership (see res.partner)
    client_refund_currency_id = fields.Many2one(
        comodel_name="res.currency", compute="_compute_client_refund_row"
    )
    client_refund_amount = fields.Monetary(
        string="Amount",
        currency_field="client_refund_currency_id",
        compute="_compute_client_refund_row",
        groups="client_refund.group_client_refund_user",
    )
    client_refund_left = fields.Monetary(
        string="Left to Refund",
        currency_field="client_refund_currency_id",
        compute="_compute_client_refund_row",
        groups="client_refund.group_client_refund_user",
    )

    def _compute_client_refund_row(self):
        """What the client's Refund page shows of each membership; the invoices
        and their payments are read together (prefetch)."""
        for line in self:
            # sudo: front-desk staff may have no Invoicing rights
            invoice_line = line.sudo().account_invoice_line
            line.client_refund_currency_id = line._client_refund_get_currency()
            line.client_refund_products = line.membership_id.name
            line.client_refund_amount = (
                invoice_line.price_total if invoice_line else line.member_price
            )
            line.client_refund_paid_by = invoice_line.move_id.client_refund_paid_by
            line.client_refund_left = (
                line._client_refund_get_refundable_amount()
                if invoice_line and invoice_line.move_id.state == "posted"
                else 0.0
            )

    # ------------------------------------------------------------------
    # What can be refunded
    # ------------------------------------------------------------------

    def _client_refund_get_source_type(self):
        return "membership"

    def _client_refund_get_currency(self):
        return self.account_invoice_id.currency_id or self.env.company.currency_id

    def _client_refund_get_products(self):
        return self.membership_id

    def _client_refund_get_done_refunds(self):
        """The refunds made of the memberships, in sudo: staff may see only theirs."""
        return self.env["client.refund"].sudo().search(
            [("source_membership_line_id", "in", self.ids), ("state", "=", "done")]
        )

    def _client_refund_check_refundable(self):
        refunded = self._client_refund_get_done_refunds()
        for line in self:
            if line.date_cancel or line.state == "canceled":
                raise UserError(_("Membership %s is cancelled already.", line.display_name))
            done = refunded.filtered(lambda refund, line=line: refund.source_membership_line_id == line)
            if done:
                raise UserError(
                    _(
                        "Membership %(membership)s was ended or cancelled by refund "
                        "%(refund)s already: it cannot be refunded again.",
                        membership=line.display_name,
                        refund=", ".join(done.mapped("name")),
                    )
                )
            if not line.account_invoice_line:
                raise UserError(
                    _("Membership %s was not invoiced: nothing was paid.", line.display_name)
                )
            if line.account_invoice_id.state != "posted":
                raise UserError(
                    _(
                        "The invoice of membership %s is not posted: only posted invoices "
                        "can be refunded.",
                        line.display_name,
                    )
                )

    def _client_refund_get_sales(self):
        """The membership's invoice line, when it is left to refund."""
        self.ensure_one()
        invoice_line = self.account_invoice_line
        invoice = self.account_invoice_id
        if not invoice_line or invoice.state != "posted":
            return []
        # sudo: the invoice is read for front-desk staff, who may have no Invoicing
        # rights; crediting it checks their rights
        balance = invoice.sudo()._client_refund_get_line_balances().get(invoice_line)
        if not balance or balance["quantity"] <= 0:
            return []
        return [
            {
                "line": invoice_line,
                "sold_on": invoice,
                "name": invoice_line.name,
                "document": invoice.display_name,
                "date": invoice.invoice_date,
                "quantity": balance["quantity"],
                "amount": balance["amount"],
            }
        ]

    def _client_refund_get_refundable_amount(self, exclude_refund=None):
        """What was paid for the membership and not refunded yet: its invoice line
        after credit notes, less what its refunds out of cash on the Refund
        account refunded (the fees they kept included)."""
        self.ensure_one()
        currency = self._client_refund_get_currency()
        paid_out = self._client_refund_get_done_refunds().filtered(
            lambda refund: refund.payout_method == "refund_account"
        )
        left = currency.round(
            sum(sale["amount"] for sale in self._client_refund_get_sales())
            - sum(paid_out.mapped("amount"))
        )
        return max(left, 0.0)

    def _client_refund_get_suggested_amount(self):
        """The price of the days left after today, ending the membership today."""
        self.ensure_one()
        price = self._client_refund_get_refundable_amount()
        if not (self.date_from and self.date_to):
            return price
        today = self._client_refund_get_company()._client_refund_today()
        total_days = (self.date_to - self.date_from).days + 1
        used_days = min(max((today - self.date_from).days + 1, 0), total_days)
        return self._client_refund_get_currency().round(
            price * (total_days - used_days) / total_days
        )

    def _client_refund_has_started(self):
        self.ensure_one()
        return not self.date_from or self.date_from <= self._client_refund_get_company()._client_refund_today()

    @api.model
    def _client_refund_search_client_documents(self, client, limit):
        return self.search(
            [
                ("partner", "child_of", client.id),
                ("date_cancel", "=", False),
                ("account_invoice_line", "!=", False),
                ("state", "in", ("invoiced", "paid")),
            ],
            order="date_from desc, id desc",
            limit=limit,
        )

    def _client_refund_get_receipt_description(self):
        self.ensure_one()
        return self.membership_id.name

    def _client_refund_get_client(self):
        return self.account_invoice_id.partner_id.commercial_partner_id

    def _client_refund_check_own_request(self, refund):
        self.ensure_one()
        today = refund.company_id._client_refund_today()
        if self.date_to and self.date_to < today:
            raise UserError(
                _(
                    "Membership %(membership)s ended on %(date)s: no day of it is "
                    "left to refund.",
                    membership=self.display_name,
                    date=self.date_to,
                )
            )
        if self._client_refund_get_mode(refund) != "cancel_sale":
            if self.date_from and self.date_from > today:
                raise UserError(
                    _(
                        "Membership %(membership)s starts on %(date)s: nothing of it was "
                        "used. Cancel its sale instead.",
                        membership=self.display_name,
                        date=self.date_from,
                    )
                )
        self._client_refund_check_balance_request(refund)

    # ------------------------------------------------------------------
    # Doing it
    # ------------------------------------------------------------------

    def _client_refund_prepare_change(self, refund, mode):
        """A cancelled sale cancels the membership; a partial refund ends it today."""
        today = refund.company_id._client_refund_today()
        return {"date_cancel": today} if mode == "cancel_sale" else {"date_to": today}

    def _client_refund_apply_change(self, refund, change):
        # sudo: only partner managers may write membership lines; ending the
        # membership is part of the refund the user may make
        self.sudo().write(change)
