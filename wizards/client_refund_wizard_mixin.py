from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..models.client_refund_source import check_numbers


class ClientRefundNumbersMixin(models.AbstractModel):
    """NaN, Infinity and numbers beyond any amount get a clear error, however
    they are sent: JSON-RPC parses them, and rounding them raises ValueError."""

    _name = "client.refund.numbers.mixin"
    _description = "Refund Wizard Numbers"

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            check_numbers(self, vals)
        return super().create(vals_list)

    def write(self, vals):
        check_numbers(self, vals)
        return super().write(vals)

    def onchange(self, values, field_names, fields_spec):
        # core's onchange checks no access: the form's answers (what is left,
        # how it was paid, what the register would say) are for those who may
        # make the refund
        self.check_access("create")
        # the form sends what its view holds, not only fields
        check_numbers(self, values, strict=False)
        return super().onchange(values, field_names, fields_spec)


class ClientRefundWizardMixin(models.AbstractModel):
    """What every refund wizard asks besides what is refunded: the client, how
    the money goes back (cash or bank journal, client credit, a till), the
    reason, a note and the receipt; and how it records the refund once the
    source has checked it. The wizards compute their company, client, payout
    method and till from what they refund."""

    _name = "client.refund.wizard.mixin"
    _inherit = ["client.refund.numbers.mixin"]
    _description = "Refund Wizard"
    _check_company_auto = True

    company_id = fields.Many2one(
        comodel_name="res.company",
        required=True,
        compute="_compute_company_id",
        store=True,
        precompute=True,
        readonly=False,
    )
    partner_id = fields.Many2one(
        comodel_name="res.partner",
        string="Client",
        compute="_compute_partner_id",
        store=True,
        precompute=True,
        readonly=False,
        check_company=True,
    )
    payout_method = fields.Selection(
        selection=[
            ("journal", "Cash or bank transfer"),
            ("credit", "Keep as client credit"),
            ("pos", "Cash from the till"),
        ],
        string="Pay Back By",
        required=True,
        compute="_compute_payout_method",
        store=True,
        precompute=True,
        readonly=False,
    )
    pos_config_id = fields.Many2one(
        comodel_name="pos.config",
        string="Till",
        check_company=True,
        compute="_compute_pos_config_id",
        store=True,
        precompute=True,
        readonly=False,
        help="Point of Sale whose open session pays the refund out of its till.",
    )
    payout_journal_id = fields.Many2one(
        comodel_name="account.journal",
        string="Paid From",
        check_company=True,
        domain="[('type', 'in', ('cash', 'bank'))]",
        compute="_compute_payout_journal_id",
        store=True,
        precompute=True,
        readonly=False,
    )
    reason_id = fields.Many2one(
        comodel_name="client.refund.reason",
        required=True,
        check_company=True,
        default=lambda self: self._get_default_reason(),
    )
    note = fields.Text()
    waive_policy = fields.Boolean(
        string="Waive the Refund Policy",
        help="Refund in full, whatever the policy's fee, window or final sale: a refund "
        "manager's decision. Asked by a refund user, the refund waits for a manager's "
        "approval.",
    )
    waiver_reason = fields.Text(string="Why Waived")
    send_receipt = fields.Boolean(
        string="E-mail the Receipt",
        compute="_compute_send_receipt",
        store=True,
        precompute=True,
        readonly=False,
    )
    payout_choices = fields.Json(
        compute="_compute_payout_choices",
        help="The ways to pay back that the document takes: the form offers only these.",
    )
    ewallet_offered = fields.Boolean(
        compute="_compute_payout_choices",
        help="The client's eWallet can take store credit: the form offers a part onto it.",
    )
    refusal = fields.Char(
        compute="_compute_money_line",
        help="Why the refund, as it is asked, cannot be made: said before Confirm.",
    )
    money_line = fields.Char(
        string="The Client Gets",
        compute="_compute_money_line",
        help="What the client gets back, and how, from everything chosen.",
    )
    waiting_note = fields.Char(
        string="Waiting",
        compute="_compute_waiting_note",
        help="Refunds of the document asked and not made yet: waiting for a manager's "
        "approval, or for Stripe. A new refund is refused beyond what they leave.",
    )
    approval_line = fields.Char(
        compute="_compute_money_line",
        help="Why the refund, as it is asked, will wait for a manager's approval: said "
        "before Confirm, which then asks for it.",
    )

    @api.depends("company_id")
    def _compute_payout_journal_id(self):
        """The journal the client paid through, else the company's refund journal."""
        Journal = self.env["account.journal"]
        for wizard in self:
            company = wizard.company_id
            source = wizard._get_source()
            paid_through = source._client_refund_get_default_payout()[1] if source else Journal
            wizard.payout_journal_id = (
                paid_through
                or company.client_refund_journal_id
                or Journal.search(
                    [*Journal._check_company_domain(company), ("type", "=", "cash")], limit=1
                )
            )

    def _compute_payout_choices(self):
        for wizard in self:
            choices = wizard._get_payout_choices()
            wizard.payout_choices = choices
            wizard.ewallet_offered = "ewallet" in choices

    def _compute_waiting_note(self):
        for wizard in self:
            source = wizard._get_source()
            wizard.waiting_note = source._client_refund_get_waiting_notes().get(source) if source else False

    def _compute_money_line(self):
        for wizard in self:
            # one trial of the refund as asked: refused, or said in words
            refund, refusal = None, False
            if wizard._get_source():
                try:
                    refund = self.env["client.refund"]._check_new_request(wizard._prepare_refund_vals())
                except UserError as error:
                    refusal = error.args[0]
            wizard.refusal = refusal
            wizard.money_line = refund and wizard._get_money_line(refund)
            wizard.approval_line = refund and wizard._get_approval_line(refund)
            wizard._update_from_trial(refund)

    def _update_from_trial(self, refund):
        """Set what the form shows of `refund`, the refund as asked, checked by
        the register (None when it refuses it)."""

    @api.model
    def _get_default_reason(self):
        """The company's default reason, else "Client request"."""
        return self.env.company.client_refund_default_reason_id or self.env.ref(
            "client_refund.reason_client_request", raise_if_not_found=False
        )

    @api.depends("partner_id")
    def _compute_send_receipt(self):
        for wizard in self:
            wizard.send_receipt = bool(wizard.partner_id.email)

    @api.model
    def _get_launch_action(self, context, title=None):
        return {
            "name": title or _("Refund"),
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": context,
        }

    def _get_payout_choices(self):
        """Each way of the form that the document takes, tried on the refund of
        all that is left: a way the register would refuse is not offered."""
        source = self._get_source()
        offered = [value for value, _label in self._fields["payout_method"].selection]
        return [
            method
            for method in offered
            if source
            and method in source._client_refund_payout_methods
            and not self._get_refusal(self._prepare_trial_vals(method))
        ]

    def _get_refusal(self, vals):
        """What the register answers a refund of `vals`: False, or why not."""
        try:
            self.env["client.refund"]._check_new_request(vals)
        except UserError as error:
            return error.args[0]
        return False

    def _get_approval_line(self, refund):
        why = refund._get_approval_reason(serialize=False)
        if not why:
            return False
        return _("Waits for a manager's approval (%s): nothing goes back until then.", why)

    def _get_money_line(self, refund):
        """What the client gets back, in words: "The client gets back $57.50 in
        cash", or "$0.00 back: $100.00 stays as credit on the client's account"."""
        currency = refund.currency_id
        source = refund._get_source()
        if refund.scope == "void":
            invoices = source.reconciled_invoice_ids
            return _(
                "Cancel payment %(payment)s: %(amount)s; %(outcome)s",
                payment=source.name,
                amount=currency.format(refund.amount),
                outcome=_("the invoice %s is due again.", ", ".join(invoices.mapped("name")))
                if invoices
                else _("no money had moved."),
            )
        money = refund._get_money_back()
        if currency.is_zero(money):
            line = _("Nothing goes back to the client.")
        elif refund.payout_method == "credit":
            line = _("%(zero)s back: %(amount)s stays as credit on the client's account.",
                     zero=currency.format(0.0), amount=currency.format(money))
        else:
            ewallet = refund.amount_ewallet if refund.payout_method != "ewallet" else money
            ways = []
            if currency.compare_amounts(money, ewallet) > 0:
                ways.append(_("%(amount)s %(way)s", amount=currency.format(money - ewallet),
                              way=self._get_payout_words(refund)))
            if not currency.is_zero(ewallet):
                ways.append(_("%s onto the eWallet", currency.format(ewallet)))
            line = _("The client gets back %s.", _(" and ").join(ways))
        # an invoice's credit note first settles what is owed; a till order's
        # refund keeps back the points it cannot take (said by the points note)
        settled_words = source._client_refund_get_settled_words(
            refund.amount - refund.amount_fee - money
        )
        fee_words = refund._get_fee_words()
        if fee_words:
            line = _("%(line)s; %(fees)s.", line=line.rstrip("."), fees=fee_words)
        return f"{line} {settled_words}" if settled_words else line

    def _prepare_policy_vals(self):
        """The waiver asked: who may grant it, the register decides."""
        return {
            "policy_waived": self.waive_policy,
            "waiver_reason": self.waiver_reason if self.waive_policy else False,
        }

    def _get_payout_words(self, refund):
        if refund.payout_method == "card":
            last4 = refund._get_source()._client_refund_get_card_transaction().token_id.payment_details
            return _("to the card ending %s", last4) if last4 else _("to the card")
        if refund.payout_method == "pos":
            return _(
                "%(ways)s at %(till)s",
                ways=refund._get_source()._client_refund_get_till_ways(refund.pos_config_id),
                till=refund.pos_config_id.name,
            )
        if refund.payout_journal_id.type == "bank":
            return _("by bank transfer")
        return _("in cash")

    def _confirm_refund(self, refund_vals):
        """Check the refund before the register takes a number, then record it and
        confirm it: the register derives from the source what decides money and
        approval, and checks it all again with the user's rights."""
        self.ensure_one()
        Refund = self.env["client.refund"]
        Refund._check_new_request(refund_vals)
        # sudo: users read the register and never write it; the refund is
        # recorded here, once checked, and confirmed with the user's rights.
        # The register's own message says who refunded what: no creation message
        # (on the refund only: the credit notes and payments keep theirs).
        refund = (
            Refund.sudo().with_context(mail_create_nolog=True).create(refund_vals).with_env(self.env)
        )
        refund.action_confirm()
        return self._get_done_action(refund)

    def _get_done_action(self, refund):
        """Say what became of the refund, offer its receipt, and close the
        wizard on the page it was started from. The refund made is in
        `res_id`, for callers over RPC."""
        states = dict(refund._fields["state"]._description_selection(self.env))
        receipt = f"/report/pdf/client_refund.report_client_refund_receipt/{refund.id}"
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "res_model": refund._name,
            "res_id": refund.id,
            "params": {
                "type": "success" if refund.state in ("done", "pending") else "warning",
                "title": _("Refund %(name)s: %(state)s", name=refund.name, state=states[refund.state]),
                "message": "%s",
                # a receipt says money went back: only for a refund made
                "links": [{"label": _("Print receipt"), "url": receipt}] if refund.state == "done" else [],
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
