from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from .client_refund_source import check_number, check_numbers

# A reason's fault that keeps a fee, and the policy fields that say how much
FEE_FAULTS = ("late_cancel", "no_show")


class ClientRefundPolicy(models.Model):
    """The owner's rules for refunds: how long after the sale a client may ask,
    what is final sale, and what is kept when the client cancels late or does
    not show. Set on product categories and products (the product wins), with
    one company default (see _get_policies)."""

    _name = "client.refund.policy"
    _description = "Refund Policy"
    _order = "sequence, id"
    _check_company_auto = True

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        comodel_name="res.company",
        required=True,
        index=True,
        default=lambda self: self.env.company,
    )
    currency_id = fields.Many2one(related="company_id.currency_id")
    window_days = fields.Integer(
        string="Refund Window (Days)",
        help="Days after the sale during which the client may be refunded; 0 for no limit.",
    )
    past_window = fields.Selection(
        selection=[
            ("refuse", "Refused"),
            ("approval", "Needs a manager's approval"),
        ],
        string="Past the Window",
        required=True,
        default="approval",
    )
    final_sale = fields.Boolean(
        help="Not refundable: only a refund manager waives it, with a reason.",
    )
    late_fee_percent = fields.Float(string="Late-Cancellation Fee (%)", digits=(16, 2))
    late_fee_fixed = fields.Monetary(string="Late-Cancellation Fixed Fee")
    late_fee_min = fields.Monetary(string="Late-Cancellation Fee at Least")
    late_fee_max = fields.Monetary(
        string="Late-Cancellation Fee at Most", help="0 for no maximum."
    )
    no_show_fee_percent = fields.Float(string="No-Show Fee (%)", digits=(16, 2))
    no_show_fee_fixed = fields.Monetary(string="No-Show Fixed Fee")
    no_show_fee_min = fields.Monetary(string="No-Show Fee at Least")
    no_show_fee_max = fields.Monetary(string="No-Show Fee at Most", help="0 for no maximum.")
    fee_product_id = fields.Many2one(
        comodel_name="product.product",
        check_company=True,
        domain="[('type', '=', 'service')]",
        help="The service a fee kept is invoiced on: its income account and taxes book the fee.",
    )
    deposit_kept = fields.Selection(
        selection=[
            ("fee", "Fee income"),
            ("store_credit", "Store credit on the client's eWallet"),
        ],
        string="A Kept Deposit Becomes",
        required=True,
        default="fee",
        help="What a deposit the client loses (a late cancellation or a no-show) "
        "becomes: the fee, booked as income, or store credit the client keeps.",
    )
    client_text = fields.Text(
        string="Text for Clients",
        translate=True,
        help="Printed on refund receipts, and on invoices when asked.",
    )
    print_on_invoice = fields.Boolean(
        help="Print the text for clients on the invoices of what the policy covers.",
    )

    @api.constrains(
        "late_fee_percent", "late_fee_fixed", "late_fee_min", "late_fee_max",
        "no_show_fee_percent", "no_show_fee_fixed", "no_show_fee_min", "no_show_fee_max",
        "window_days",
    )
    def _check_fees(self):
        for policy in self:
            if policy.window_days < 0:
                raise ValidationError(_("The refund window of %s is 0 or more days.", policy.name))
            for fault in FEE_FAULTS:
                percent, fixed, minimum, maximum = policy._get_fee_terms(fault)
                label = policy._get_fault_label(fault)
                for value in (percent, fixed, minimum, maximum):
                    check_number(value, label)
                if not 0.0 <= percent <= 100.0:
                    raise ValidationError(
                        _("The %(fee)s of %(policy)s is between 0 and 100 %%, not %(percent)s %%.",
                          fee=label, policy=policy.name, percent=percent)
                    )
                if min(fixed, minimum, maximum) < 0.0:
                    raise ValidationError(
                        _("The amounts of the %(fee)s of %(policy)s cannot be negative.",
                          fee=label, policy=policy.name)
                    )
                if maximum and policy.currency_id.compare_amounts(maximum, minimum) < 0:
                    raise ValidationError(
                        _("The %(fee)s of %(policy)s is at most %(max)s, below its minimum of %(min)s.",
                          fee=label, policy=policy.name,
                          max=policy.currency_id.format(maximum), min=policy.currency_id.format(minimum))
                    )

    @api.constrains("fee_product_id", "late_fee_percent", "late_fee_fixed", "late_fee_min",
                    "no_show_fee_percent", "no_show_fee_fixed", "no_show_fee_min")
    def _check_fee_product(self):
        for policy in self:
            product = policy.fee_product_id
            if not product:
                if any(policy._get_fee_terms(fault)[:3] != (0.0, 0.0, 0.0) for fault in FEE_FAULTS):
                    raise ValidationError(
                        _("Policy %s keeps fees: choose the fee product they are invoiced on.",
                          policy.name)
                    )
                continue
            if product.type != "service":
                raise ValidationError(_("The fee product %s is a service.", product.display_name))
            # sudo: the accounts are read for refund managers without accounting rights
            accounts = product.sudo().with_company(policy.company_id).product_tmpl_id.get_product_accounts()
            if not accounts.get("income"):
                raise ValidationError(
                    _("The fee product %s has no income account: set one on it or on its category.",
                      product.display_name)
                )

    @api.model_create_multi
    def create(self, vals_list):
        # NaN and Infinity get a clear error, not a ValueError when rounded
        for vals in vals_list:
            check_numbers(self, vals)
        return super().create(vals_list)

    def write(self, vals):
        check_numbers(self, vals)
        return super().write(vals)

    def _get_fee_terms(self, fault):
        """(percent, fixed, minimum, maximum) of the fee kept for `fault`."""
        self.ensure_one()
        prefix = {"late_cancel": "late_fee", "no_show": "no_show_fee"}.get(fault)
        if not prefix:
            return (0.0, 0.0, 0.0, 0.0)
        return tuple(self[f"{prefix}_{part}"] for part in ("percent", "fixed", "min", "max"))

    @api.model
    def _get_fault_label(self, fault):
        return {
            "late_cancel": _("late-cancellation fee"),
            "no_show": _("no-show fee"),
        }.get(fault, "")

    def _compute_fee(self, fault, base, currency):
        """The fee kept of `base` (what is refunded under this policy, tax
        included, in `currency`) for `fault`: the percentage plus the fixed
        amount, within the minimum and maximum, and never more than `base`."""
        self.ensure_one()
        percent, fixed, minimum, maximum = self._get_fee_terms(fault)
        if not (percent or fixed or minimum) or currency.compare_amounts(base, 0.0) <= 0:
            return 0.0
        company_currency = self.currency_id
        date = fields.Date.context_today(self)
        fixed, minimum, maximum = (
            company_currency._convert(value, currency, self.company_id, date)
            for value in (fixed, minimum, maximum)
        )
        fee = max(base * percent / 100.0 + fixed, minimum)
        if maximum:
            fee = min(fee, maximum)
        return currency.round(min(fee, base))

    def _get_fee_words(self, fault):
        """How the fee is computed, as the money line says it: "Salon policy:
        20 %, at least $ 10.00"."""
        self.ensure_one()
        percent, fixed, minimum, maximum = self._get_fee_terms(fault)
        currency = self.currency_id
        terms = []
        if percent:
            terms.append(f"{percent:g} %")
        if fixed:
            terms.append(currency.format(fixed) if not percent else _("plus %s", currency.format(fixed)))
        if minimum:
            terms.append(_("at least %s", currency.format(minimum)))
        if maximum:
            terms.append(_("at most %s", currency.format(maximum)))
        return _("%(policy)s: %(terms)s", policy=self.name, terms=", ".join(terms))

    @api.model
    def _get_policies(self, products, company):
        """{product: its policy in `company`}: the product's own, else its
        category's (or a parent category's), else the company's default. A
        policy of another company is never applied."""
        policies = {}
        # sudo: the default is read for whoever the policy holds for
        default = company.sudo().client_refund_policy_id
        # sudo: products and categories are read for staff without Inventory rights
        for product in products.sudo().with_company(company):
            policy = product.client_refund_policy_id
            category = product.categ_id
            while not policy and category:
                policy = category.client_refund_policy_id
                category = category.parent_id
            policy = policy or default
            policies[product.with_env(self.env)] = (
                policy.with_env(self.env) if policy.company_id == company else default.with_env(self.env)
            )
        return policies
