from collections import defaultdict

from odoo import Command, _, fields, models
from odoo.exceptions import UserError

from .client_refund_policy import FEE_FAULTS
from .client_refund_source import check_number

# The refunds whose fees a new refund of the same document counts
FEE_COUNTED_STATES = ("to_approve", "pending", "done")


class ClientRefundFees(models.AbstractModel):
    """The owner's refund policies applied to a refund (client.refund): which
    policies govern what it refunds, the window and final sale, the fee kept
    for a late cancellation or a no-show, and a manager's waiver. All of it is
    derived from the document and the reason on the server, at confirm,
    approval and execution, like the amount."""

    _name = "client.refund.fees"
    _description = "Refund Policies Applied"

    # the register's own (see client.refund)
    currency_id = fields.Many2one(comodel_name="res.currency")
    policy_ids = fields.Many2many(
        comodel_name="client.refund.policy",
        relation="client_refund_policy_rel",
        column1="refund_id",
        column2="policy_id",
        string="Policies",
        readonly=True,
        copy=False,
        help="The refund policies of what the refund gives back.",
    )
    fee_ids = fields.One2many(
        comodel_name="client.refund.fee",
        inverse_name="refund_id",
        string="Fees",
        readonly=True,
        copy=False,
    )
    amount_fee = fields.Monetary(
        string="Fee Kept",
        currency_field="currency_id",
        readonly=True,
        copy=False,
        help="What the refund policy keeps of the amount refunded, invoiced on its fee "
        "product: the client gets back the rest.",
    )
    policy_waived = fields.Boolean(
        string="Policy Waived",
        readonly=True,
        copy=False,
        help="The refund policy's fee, window and final sale do not apply: a refund "
        "manager's decision, with a reason.",
    )
    waiver_reason = fields.Text(readonly=True, copy=False)
    waived_by_id = fields.Many2one(
        comodel_name="res.users", string="Waived By", readonly=True, copy=False
    )

    # ------------------------------------------------------------------
    # Derived from the document, on the server
    # ------------------------------------------------------------------

    def _prepare_policy_values(self):
        """The policies of what the refund gives back and the fees they keep,
        from the document refunded and the reason, never as the caller sent
        them. The fee of a policy is computed on everything the document's
        refunds gave back under it, less the fees they kept: refunding in
        parts or line by line keeps neither less nor twice."""
        self.ensure_one()
        values = {"policy_ids": [Command.clear()], "fee_ids": [Command.clear()], "amount_fee": 0.0}
        check_number(self.amount, _("The amount to refund"))
        if (
            self.scope == "void"
            or self.currency_id.compare_amounts(self.amount, 0.0) <= 0
            # most companies have no policy: one query says so
            or not self.env["client.refund.policy"].sudo().search_count(
                [("company_id", "=", self.company_id.id)], limit=1
            )
        ):
            return values
        bases = self._get_policy_bases()
        values["policy_ids"] = [Command.set([policy.id for policy in bases])]
        fault = self.reason_id.fault
        if not self.reason_id.apply_policy or fault not in FEE_FAULTS:
            return values
        currency = self.currency_id
        earlier = self._get_earlier_fees(fault)
        fees = []
        for policy, base in bases.items():
            charged_base, charged_fee = earlier.get(policy, (0.0, 0.0))
            fee = currency.round(
                max(policy._compute_fee(fault, charged_base + base, currency) - charged_fee, 0.0)
            )
            if currency.is_zero(fee):
                continue
            if policy.fee_product_id:
                fee = self.env["account.move"]._client_refund_get_fee_price(
                    policy.fee_product_id, fee, self
                )[1]
            waived = self.policy_waived
            fees.append(
                {
                    "policy_id": policy.id,
                    "fault": fault,
                    "base": base,
                    "amount": 0.0 if waived else fee,
                    "amount_waived": fee if waived else 0.0,
                }
            )
        values["fee_ids"] += [Command.create(fee) for fee in fees]
        values["amount_fee"] = currency.round(sum(fee["amount"] for fee in fees))
        return values

    def _get_policy_bases(self):
        """{policy: what the refund credits under it, tax included}: each
        product's own policy (see client.refund.policy._get_policies), the
        company's default for what has no product."""
        self.ensure_one()
        company = self.company_id
        lines = self._get_source()._client_refund_get_policy_lines(self)
        # taxes and cash rounding round the whole refund: its last cents go to
        # the largest line
        rest = self.amount - sum(amount for _product, amount in lines)
        if lines and not self.currency_id.is_zero(rest):
            largest = max(range(len(lines)), key=lambda index: lines[index][1])
            lines[largest] = (lines[largest][0], lines[largest][1] + rest)
        Product = self.env["product.product"]
        policies = self.env["client.refund.policy"]._get_policies(
            Product.concat(*(product for product, _amount in lines if product)), company
        )
        bases = defaultdict(float)
        for product, amount in lines:
            policy = policies.get(product) if product else company.client_refund_policy_id
            if policy:
                bases[policy] += amount
        return {policy: self.currency_id.round(base) for policy, base in bases.items()}

    def _get_earlier_fees(self, fault):
        """{policy: (base, fee kept or waived)} of the document's other refunds
        for `fault`, whoever made them, made or on their way."""
        source = self._get_source()
        fname = self._get_source_fields()[source._name]
        # sudo: every refund of the document counts, whoever made it
        groups = self.env["client.refund.fee"].sudo()._read_group(
            [
                (f"refund_id.{fname}", "=", source.id),
                ("refund_id", "!=", self._origin.id),
                ("state", "in", FEE_COUNTED_STATES),
                ("fault", "=", fault),
            ],
            ["policy_id"],
            ["base:sum", "amount:sum", "amount_waived:sum"],
        )
        return {
            policy.with_env(self.env): (base, amount + waived)
            for policy, base, amount, waived in groups
        }

    def _get_money_back(self):
        """What goes back to the client: what the document gives back in money
        for the amount, less the fee kept."""
        self.ensure_one()
        money = self._get_source()._client_refund_get_paid_back_amount(self.amount)
        return self.currency_id.round(max(money - self.amount_fee, 0.0))

    # ------------------------------------------------------------------
    # Checks
    # ------------------------------------------------------------------

    def _check_policy(self):
        """Final sale and a window that refuses stop the refund, but for a
        waiver with its reason; a waiver asked by a refund user waits for a
        manager (see _get_policy_approval_reasons)."""
        self.ensure_one()
        if self.policy_waived and not (self.waiver_reason or "").strip():
            raise UserError(_("Say why the refund policy is waived."))
        if self.scope == "void" or not self.reason_id.apply_policy or self.policy_waived:
            return
        final_sale = self.policy_ids.filtered("final_sale")
        if final_sale:
            raise UserError(
                _(
                    "%(document)s is a final sale (%(policies)s): it is not refunded. A "
                    "refund manager may waive the policy, with a reason.",
                    document=self._get_source().display_name,
                    policies=", ".join(final_sale.mapped("name")),
                )
            )
        for policy in self._get_policies_past_window().filtered(lambda p: p.past_window == "refuse"):
            raise UserError(
                _(
                    "%(document)s was sold more than %(days)s days ago: past the refund "
                    "window of %(policy)s, it is not refunded. A refund manager may waive "
                    "the policy, with a reason.",
                    document=self._get_source().display_name,
                    days=policy.window_days,
                    policy=policy.name,
                )
            )

    def _get_policies_past_window(self):
        """The refund's policies whose window the sale is past, in the company's day."""
        self.ensure_one()
        sold_on = self._get_source()._client_refund_get_policy_date()
        if not sold_on or self.scope == "void" or not self.reason_id.apply_policy:
            return self.env["client.refund.policy"]
        today = self.company_id._client_refund_today()
        return self.policy_ids.filtered(
            lambda policy: policy.window_days and (today - sold_on).days > policy.window_days
        )

    def _get_policy_approval_reasons(self):
        """Why the policy sends the refund to a manager: a window past which
        refunds need approval, or a waiver asked by a refund user."""
        self.ensure_one()
        reasons = []
        if self.policy_waived and not self._is_refund_manager(self.user_id):
            reasons.append(_("the refund policy is asked to be waived: %s", self.waiver_reason))
        elif not self.policy_waived:
            for policy in self._get_policies_past_window():
                reasons.append(
                    _(
                        "past the %(days)s-day refund window of %(policy)s",
                        days=policy.window_days,
                        policy=policy.name,
                    )
                )
        return reasons

    def _check_fees_as_approved(self):
        """Execution keeps the fees that were confirmed and approved, or stops."""
        self.ensure_one()
        fee = self._prepare_policy_values()["amount_fee"]
        if self.currency_id.compare_amounts(fee, self.amount_fee):
            raise UserError(
                _(
                    "Refund %(refund)s was asked keeping a fee of %(asked)s, but would now "
                    "keep %(fee)s. Reject or cancel it, and refund again.",
                    refund=self.name,
                    asked=self.currency_id.format(self.amount_fee),
                    fee=self.currency_id.format(fee),
                )
            )

    def _is_refund_manager(self, user):
        return user.has_group("client_refund.group_client_refund_manager")

    # ------------------------------------------------------------------
    # Words
    # ------------------------------------------------------------------

    def _get_fee_words(self):
        """What the money line and the receipt say of the fees: "$ 20.00
        late-cancellation fee kept (Salon policy: 20 %, at least $ 10.00)"."""
        self.ensure_one()
        currency = self.currency_id
        words = []
        for fee in self.fee_ids:
            label = fee.policy_id._get_fault_label(fee.fault)
            terms = fee.policy_id._get_fee_words(fee.fault)
            if fee.amount_waived:
                words.append(
                    _("%(amount)s %(fee)s waived (%(terms)s)",
                      amount=currency.format(fee.amount_waived), fee=label, terms=terms)
                )
            else:
                words.append(
                    _("%(amount)s %(fee)s kept (%(terms)s)",
                      amount=currency.format(fee.amount), fee=label, terms=terms)
                )
        return "; ".join(words)
