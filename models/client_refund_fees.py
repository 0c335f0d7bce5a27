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
        readonly=True,
        copy=False,
        help="The refund policy's fee, window and final sale do not apply: a refund "
        "manager's decision, with a reason.",
    )
    waiver_reason = fields.Text(readonly=True, copy=False)
    waived_by_id = fields.Many2one(
        comodel_name="res.users", readonly=True, copy=False
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
        values = {"policy_ids": [Command.set([])], "fee_ids": [Command.clear()], "amount_fee": 0.0}
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
            # sudo: the default is read for whoever refunds
            policy = policies.get(product) if product else company.sudo().client_refund_policy_id.with_env(self.env)
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
        """Final sale and a window that refuses stop the refund, unless the
        policy is lifted (see _is_policy_lifted): by a refund manager, or, asked
        by a refund user, once a manager approves (see
        _get_policy_approval_reasons)."""
        self.ensure_one()
        if self.policy_waived and not (self.waiver_reason or "").strip():
            raise UserError(_("Say why the refund policy is waived."))
        if self.scope == "void" or self._is_policy_lifted():
            return
        blocks = self._get_policy_blocks(refusing_only=True)
        if blocks:
            raise UserError(
                _(
                    "%(document)s %(blocks)s: it is not refunded. A refund manager may "
                    "waive the policy, with a reason.",
                    document=self._get_source().display_name,
                    blocks=_(" and ").join(blocks),
                )
            )

    def _is_policy_lifted(self):
        """The policy's window and final sale do not hold: a waiver, or a reason
        where they do not apply (the business at fault). Either is a refund
        manager's decision: a refund user's waits for approval."""
        return self.policy_waived or not self.reason_id.apply_policy

    def _get_policy_blocks(self, refusing_only=False):
        """What of the policies stands in the refund's way, in words: final
        sale, and a window past which refunds are refused (or, unless
        `refusing_only`, need approval)."""
        self.ensure_one()
        blocks = [
            _("is a final sale (%s)", policy.name) for policy in self.policy_ids.filtered("final_sale")
        ]
        for policy in self._get_policies_past_window():
            if policy.past_window == "refuse" or not refusing_only:
                blocks.append(
                    _(
                        "was sold more than %(days)s days ago, past the refund window of %(policy)s",
                        days=policy.window_days,
                        policy=policy.name,
                    )
                )
        return blocks

    def _get_policies_past_window(self):
        """The refund's policies whose window the sale is past, in the company's day."""
        self.ensure_one()
        Policy = self.env["client.refund.policy"]
        windows = self.policy_ids.filtered("window_days")
        if not windows or self.scope == "void":
            return Policy
        sold_on = self._get_source()._client_refund_get_policy_date()
        if not sold_on:
            return Policy
        today = self.company_id._client_refund_today()
        return windows.filtered(lambda policy: (today - sold_on).days > policy.window_days)

    def _get_policy_approval_reasons(self):
        """Why the policy sends the refund to a manager: a window past which
        refunds need approval; or, asked by a refund user, a waiver or a
        reason that lifts what the policy refuses."""
        self.ensure_one()
        if not self._is_policy_lifted():
            return [
                _(
                    "past the %(days)s-day refund window of %(policy)s",
                    days=policy.window_days,
                    policy=policy.name,
                )
                for policy in self._get_policies_past_window()
            ]
        if self._is_refund_manager(self.user_id):
            return []
        if self.policy_waived:
            return [_("the refund policy is asked to be waived: %s", self.waiver_reason)]
        blocks = self._get_policy_blocks()
        if not blocks:
            return []
        return [
            _(
                "the reason %(reason)s lifts the refund policy: %(document)s %(blocks)s",
                reason=self.reason_id.name,
                document=self._get_source().display_name,
                blocks=_(" and ").join(blocks),
            )
        ]

    def _check_policy_as_approved(self):
        """Execution keeps the policies and fees that were confirmed and
        approved, or stops. A card refund Stripe has made is booked as it was
        sent: the fee it kept is what the card did not get back."""
        self.ensure_one()
        if self.state == "pending":
            return
        values = self._prepare_policy_values()
        (__, __, policy_ids), = values["policy_ids"]
        policies = self.env["client.refund.policy"].browse(policy_ids)
        if policies != self.policy_ids:
            raise UserError(
                _(
                    "Refund %(refund)s was asked under the refund policies %(asked)s, but "
                    "would now fall under %(now)s. Reject or cancel it, and refund again.",
                    refund=self.name,
                    asked=", ".join(self.policy_ids.mapped("name")) or _("none"),
                    now=", ".join(policies.mapped("name")) or _("none"),
                )
            )
        fee = values["amount_fee"]
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
        as_store_credit = self.fee_ids and not currency.is_zero(
            self._get_source()._client_refund_get_fee_store_credit(self)
        )
        for fee in self.fee_ids:
            label = fee.policy_id._get_fault_label(fee.fault)
            terms = fee.policy_id._get_fee_words(fee.fault)
            if fee.amount_waived:
                words.append(
                    _("%(amount)s %(fee)s waived (%(terms)s)",
                      amount=currency.format(fee.amount_waived), fee=label, terms=terms)
                )
            elif as_store_credit:
                words.append(
                    _("%(amount)s %(fee)s kept as store credit on the eWallet (%(terms)s)",
                      amount=currency.format(fee.amount), fee=label, terms=terms)
                )
            else:
                words.append(
                    _("%(amount)s %(fee)s kept (%(terms)s)",
                      amount=currency.format(fee.amount), fee=label, terms=terms)
                )
        return "; ".join(words)
