from datetime import datetime, time

import pytz

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from odoo.addons.base.models.res_partner import _tz_get


class ResCompany(models.Model):
    _inherit = "res.company"

    client_refund_account_id = fields.Many2one(
        comodel_name="account.account",
        string="Refund Account",
        domain="[('account_type', 'in', ('expense', 'expense_direct_cost'))]",
        help="Expense account on which balances paid back to clients (gift cards, "
        "deposits, prorated memberships) are booked.",
    )
    client_refund_approval_threshold = fields.Monetary(
        string="Refund Approval Threshold",
        currency_field="currency_id",
        help="Refunds above this amount, in the company currency, wait for the "
        "approval of a refund manager. Zero means that no refund needs approval.",
    )
    client_refund_daily_cap = fields.Monetary(
        string="Refund Daily Cap per User",
        currency_field="currency_id",
        help="Once a refund user's refunds of the day, in the company currency, add "
        "up beyond this amount, the rest wait for the approval of a refund manager. "
        "Zero means no cap.",
    )
    client_refund_tz = fields.Selection(
        selection=_tz_get,
        string="Refund Day Time Zone",
        # the installing administrator's, until the company sets its own
        default=lambda self: self.env.user.tz or "UTC",
        help="Where the company's day starts and ends for its refunds: the daily "
        "cap, the dates of the entries and the expiry of cards. A user's own "
        "time zone, which each user may change, decides none of them.",
    )
    client_refund_limit_credit_notes = fields.Boolean(
        string="No Credit Note Beyond Its Invoice",
        default=True,
        help="Refuse to post any credit note, the addon's or core's, that would "
        "credit its invoice beyond the invoice's total. Off: an accountant may post "
        "a goodwill credit note above the invoice; refunds still never pay back "
        "more than was paid.",
    )
    client_refund_stripe_wait_hours = fields.Integer(
        string="Hours to Wait for Stripe",
        default=24,
        help="A card refund Stripe has not acknowledged this many hours after it "
        "was asked (the addon retries meanwhile) may be cancelled by a refund manager "
        "who checked the Stripe Dashboard, and the sale paid back another way.",
    )
    client_refund_dispute_notice_days = fields.Integer(
        string="Days of Notice Before a Dispute's Evidence Deadline",
        default=3,
        help="Refund managers get an activity this many days before the evidence "
        "deadline of a card dispute.",
    )
    client_refund_dispute_fee_account_id = fields.Many2one(
        comodel_name="account.account",
        string="Card Dispute Fee Account",
        domain="[('account_type', 'in', ('expense', 'expense_direct_cost'))]",
        help="Expense account of the fees Stripe charges for a card dispute. "
        "Empty: the Refund Account.",
    )
    client_refund_deduct_points = fields.Boolean(
        string="Deduct Loyalty Points Not Returned",
        help="When a refunded Point of Sale order earned loyalty points the client "
        "has spent meanwhile, their value is deducted from the money paid back. "
        "Off: the shortfall is only stated.",
    )
    client_refund_default_reason_id = fields.Many2one(
        comodel_name="client.refund.reason",
        string="Default Refund Reason",
        help="Reason every refund proposes; staff may choose another.",
    )
    client_refund_journal_id = fields.Many2one(
        comodel_name="account.journal",
        string="Default Refund Journal",
        domain="[('type', 'in', ('cash', 'bank'))]",
        help="Cash or bank journal proposed to pay refunds out.",
    )
    client_refund_policy_id = fields.Many2one(
        comodel_name="client.refund.policy",
        string="Default Refund Policy",
        domain="[('company_id', '=', id)]",
        groups="client_refund.group_client_refund_user",
        help="The refund policy of what has none of its own, nor its category.",
    )
    client_refund_unusual_factor = fields.Float(
        string="Unusual Refund Day Factor",
        default=3.0,
        help="A refund is flagged when its requester's refunds of the day, in number or "
        "amount, are more than this many times their usual day (the daily average of "
        "the previous 30 days, at least one refund of their usual amount).",
    )
    client_refund_frequent_refunds = fields.Integer(
        string="Refunds of a Client in 90 Days",
        default=3,
        help="A refund is flagged when its client had more refunds than this in the "
        "last 90 days.",
    )
    client_refund_digest_date = fields.Date(
        string="Flagged Refunds Digest Sent On",
        readonly=True,
        copy=False,
        help="The company's day whose digest of flagged refunds was sent: once a day.",
    )

    @api.constrains("client_refund_policy_id")
    def _check_client_refund_policy_id(self):
        for company in self:
            # sudo: another company's policy is refused, not an access error
            policy = company.client_refund_policy_id.sudo()
            if policy and policy.company_id != company:
                raise ValidationError(
                    _("That refund policy is not one of %(company)s.", company=company.name)
                )

    @api.constrains("client_refund_dispute_notice_days")
    def _check_client_refund_dispute_notice_days(self):
        if any(company.client_refund_dispute_notice_days < 0 for company in self):
            raise ValidationError(_("The notice before a dispute's evidence deadline cannot be negative."))

    @api.constrains("client_refund_unusual_factor", "client_refund_frequent_refunds")
    def _check_client_refund_oversight(self):
        for company in self:
            if company.client_refund_unusual_factor < 1:
                raise ValidationError(
                    _("A user's unusual day is at least their usual day: a factor of 1 or more.")
                )
            if company.client_refund_frequent_refunds < 1:
                raise ValidationError(
                    _("A client is flagged after one refund in 90 days at least.")
                )

    @api.constrains("client_refund_stripe_wait_hours")
    def _check_client_refund_stripe_wait_hours(self):
        if any(company.client_refund_stripe_wait_hours < 1 for company in self):
            raise ValidationError(_("Stripe is waited for at least one hour."))

    @api.model_create_multi
    def create(self, vals_list):
        companies = super().create(vals_list)
        companies._client_refund_create_sequence()
        return companies

    def _client_refund_create_sequence(self):
        """Each company numbers its refunds on its own."""
        Sequence = self.env["ir.sequence"].sudo()  # companies are set up by admins only
        existing = Sequence.search(
            [("code", "=", "client.refund"), ("company_id", "in", self.ids)]
        ).company_id
        Sequence.create(
            [
                self._prepare_client_refund_sequence_vals(company)
                for company in self - existing
            ]
        )

    def _client_refund_now(self):
        """Now, in the company's refund time zone (an aware datetime)."""
        self.ensure_one()
        tz = pytz.timezone(self.client_refund_tz or "UTC")
        return pytz.utc.localize(fields.Datetime.now()).astimezone(tz)

    def _client_refund_today(self):
        """The company's day: never the caller's `tz`, which the caller sets."""
        return self._client_refund_now().date()

    def _client_refund_start_of_day(self):
        """Midnight of the company's day, in UTC, as the ORM stores datetimes."""
        now = self._client_refund_now()
        midnight = now.tzinfo.localize(datetime.combine(now.date(), time.min))
        return midnight.astimezone(pytz.utc).replace(tzinfo=None)

    def _client_refund_next_number(self):
        """The next refund number of the company, from its own sequence."""
        self.ensure_one()
        # sudo: the numbering is read-only for refund users; the register
        # still needs the next number
        Sequence = self.env["ir.sequence"].sudo().with_company(self)
        number = Sequence.next_by_code("client.refund")
        if not number:
            self._client_refund_create_sequence()
            number = Sequence.next_by_code("client.refund")
        return number

    def _client_refund_create_refund_account(self):
        """Create the Refund expense account of companies that have a chart and
        none yet; called on install and whenever a chart is loaded."""
        for company in self.filtered(lambda c: not c.client_refund_account_id):
            Account = self.env["account.account"].with_company(company)
            start_account = Account.search(
                [
                    *Account._check_company_domain(company),
                    ("account_type", "=", "expense"),
                ],
                order="code desc",
                limit=1,
            )
            if not start_account:
                continue
            company.client_refund_account_id = Account.create(
                {
                    "name": _("Client Refunds"),
                    "code": Account._search_new_account_code(start_account.code),
                    "account_type": "expense",
                    "company_ids": [fields.Command.set(company.ids)],
                }
            )

    def _prepare_client_refund_sequence_vals(self, company):
        return {
            "name": _("Client Refunds (%s)", company.name),
            "code": "client.refund",
            "company_id": company.id,
            "prefix": "RF/%(range_year)s/",
            "padding": 5,
            "use_date_range": True,
        }
