from datetime import datetime, time, timedelta

import psycopg2
import pytz

from odoo import api, fields, models, tools
from odoo.tools import SQL

# The refunds a user's day and a client's refunds count: asked and not undone
OVERSIGHT_COUNTED_STATES = ("to_approve", "pending", "done")
# How a refund's payout leaves the card: cash, or store credit
CASH_PAYOUT_METHODS = ("journal", "refund_account")
# The days a user's usual day is measured on, and a client's refunds counted on
USUAL_DAYS = 30
CLIENT_DAYS = 90
# (flag field, what the manager reads), in the order the register shows them
OVERSIGHT_FLAGS = [
    ("flag_card_to_cash", "Card sale refunded in cash or onto the eWallet"),
    ("flag_own_sale", "Refunded by the seller"),
    ("flag_past_window", "Past the refund window"),
    ("flag_policy_waived", "Fee or policy waived"),
    ("flag_unusual_day", "Unusual day for the user"),
    ("flag_frequent_client", "Frequent refunds of the client"),
]


class ClientRefundOversight(models.AbstractModel):
    """What refund-fraud controls look at, on the register (client.refund):
    flags set once, when the refund is confirmed, from the register and the
    documents as they stand then, for a manager's filters, graph and daily
    digest. Nobody writes them but the register (see client.refund.write)."""

    _name = "client.refund.oversight"
    _description = "Refund Oversight Flags"

    flag_card_to_cash = fields.Boolean(
        string="Card Sale Refunded in Cash or eWallet",
        readonly=True,
        copy=False,
        help="The sale was paid by card (online or on a terminal), and the refund was "
        "paid out in cash or put on the client's eWallet: money the card never gets back.",
    )
    flag_own_sale = fields.Boolean(
        string="Refunded by the Seller",
        readonly=True,
        copy=False,
        help="Who refunded is who made the sale (the invoice's salesperson or creator, "
        "the order's cashier, the payment's creator).",
    )
    flag_past_window = fields.Boolean(
        string="Past the Refund Window",
        readonly=True,
        copy=False,
        help="At confirmation, the sale was past the window of one of the refund's policies.",
    )
    flag_policy_waived = fields.Boolean(
        string="Fee or Policy Waived",
        readonly=True,
        copy=False,
        help="The refund policy was waived, or a fee it keeps was.",
    )
    flag_unusual_day = fields.Boolean(
        string="Unusual Day for the User",
        readonly=True,
        copy=False,
        help="The requester's refunds of the company's day, in number or amount, were "
        "more than the company's factor times their usual day (the daily average of "
        "the previous 30 days, at least one refund of their usual amount).",
    )
    flag_frequent_client = fields.Boolean(
        string="Frequent Refunds of the Client",
        readonly=True,
        copy=False,
        help="The client had more refunds in 90 days than the company's setting allows "
        "before a manager looks.",
    )
    flag_count = fields.Integer(
        string="Flags", compute="_compute_flag_count", store=True, aggregator="sum"
    )
    is_flagged = fields.Boolean(
        string="Flagged", compute="_compute_flag_count", store=True, index=True
    )
    flag_names = fields.Char(string="Why Flagged", compute="_compute_flag_names")

    def _auto_init(self):
        result = super()._auto_init()
        # the register's table has its flags now: the report reads them
        if not self._abstract:
            self.env["client.refund.flag.report"]._create_view()
        return result

    @api.depends(*(fname for fname, _label in OVERSIGHT_FLAGS))
    def _compute_flag_count(self):
        for refund in self:
            refund.flag_count = sum(refund[fname] for fname, _label in OVERSIGHT_FLAGS)
            refund.is_flagged = bool(refund.flag_count)

    @api.depends(*(fname for fname, _label in OVERSIGHT_FLAGS))
    def _compute_flag_names(self):
        descriptions = self.fields_get([fname for fname, _label in OVERSIGHT_FLAGS], ["string"])
        for refund in self:
            refund.flag_names = ", ".join(
                descriptions[fname]["string"] for fname, _label in OVERSIGHT_FLAGS if refund[fname]
            )

    # ------------------------------------------------------------------
    # Set once, at confirm
    # ------------------------------------------------------------------

    def _set_oversight_flags(self):
        """Flag the refunds just confirmed (see client.refund.action_confirm):
        what each one is, then the day of its requester and its client's
        refunds, counted for all of them with one query each."""
        refunds = self.filtered(lambda refund: refund.state in OVERSIGHT_COUNTED_STATES)
        if not refunds:
            return
        unusual = refunds._get_unusual_day_refunds()
        frequent = refunds._get_frequent_client_refunds()
        for refund in refunds:
            refund._write_record(
                {
                    "flag_card_to_cash": refund._is_card_sale_paid_out_of_card(),
                    "flag_own_sale": refund.user_id in refund._get_sellers(),
                    "flag_past_window": bool(refund._get_policies_past_window()),
                    "flag_policy_waived": refund.policy_waived
                    or any(refund.fee_ids.mapped("amount_waived")),
                    "flag_unusual_day": refund in unusual,
                    "flag_frequent_client": refund in frequent,
                }
            )

    def _get_oversight_sale_documents(self):
        """The refunded document and the sales it gives back (a card's or a
        membership's invoice or order)."""
        self.ensure_one()
        # sudo: who sold and how it was paid is read for whoever refunds
        return [
            document.sudo()
            for document in dict.fromkeys(
                [self._get_source(), *self.sale_move_ids, *self.sale_pos_order_ids]
            )
        ]

    def _is_card_sale_paid_out_of_card(self):
        self.ensure_one()
        if not self._is_paid_out_in_cash_or_store_credit():
            return False
        return bool(self.card_transaction_id) or any(
            document._client_refund_is_paid_by_card() for document in self._get_oversight_sale_documents()
        )

    def _is_paid_out_in_cash_or_store_credit(self):
        self.ensure_one()
        if self.payout_method == "ewallet" or self.amount_ewallet:
            return True
        if self.payout_method in CASH_PAYOUT_METHODS:
            return self.payout_journal_id.type == "cash"
        if self.payout_method == "pos":
            # sudo: the till's payments are read for staff without POS rights
            return any(
                payment.payment_method_id.is_cash_count and payment.amount < 0
                for payment in self.sudo().pos_order_ids.payment_ids
            )
        return False

    def _get_sellers(self):
        """The users who made the sale the refund gives back."""
        self.ensure_one()
        sellers = self.env["res.users"].concat(
            *(document._client_refund_get_sellers() for document in self._get_oversight_sale_documents())
        )
        return sellers.with_env(self.env)

    def _get_unusual_day_refunds(self):
        """The refunds whose requester's refunds of the company's day are more
        than the company's factor times their usual day, in number or amount.
        A usual day is the average of the previous 30 company days, and at
        least one refund of the requester's usual amount: a quiet user is not
        flagged for one refund."""
        unusual = self.browse()
        for company, refunds in self.grouped("company_id").items():
            start_of_day = company._client_refund_start_of_day()
            month_start = self._get_company_midnight(
                company, company._client_refund_today() - timedelta(days=USUAL_DAYS)
            )
            users = refunds.user_id
            today = self._count_refunds_by(
                company, "user_id", users, start_of_day
            )
            month = self._count_refunds_by(
                company, "user_id", users, month_start, until=start_of_day
            )
            factor = company.client_refund_unusual_factor
            for refund in refunds:
                count, amount = today.get(refund.user_id, (0, 0.0))
                month_count, month_amount = month.get(refund.user_id, (0, 0.0))
                usual_count = max(month_count / USUAL_DAYS, 1.0)
                usual_amount = max(
                    month_amount / USUAL_DAYS, month_amount / month_count if month_count else 0.0
                )
                if count > factor * usual_count or (
                    usual_amount
                    and company.currency_id.compare_amounts(amount, factor * usual_amount) > 0
                ):
                    unusual |= refund
        return unusual

    def _get_frequent_client_refunds(self):
        """The refunds whose client had more refunds in the company's last 90
        days than the company's setting."""
        frequent = self.browse()
        for company, refunds in self.grouped("company_id").items():
            clients = refunds.partner_id
            if not clients:
                continue
            since = self._get_company_midnight(
                company, company._client_refund_today() - timedelta(days=CLIENT_DAYS - 1)
            )
            counts = self._count_refunds_by(company, "partner_id", clients, since)
            limit = company.client_refund_frequent_refunds
            frequent |= refunds.filtered(
                lambda refund: refund.partner_id
                and counts.get(refund.partner_id, (0, 0.0))[0] > limit
            )
        return frequent

    @api.model
    def _count_refunds_by(self, company, fname, records, since, until=None):
        """{record: (refunds, amount in the company's currency)} of `company`'s
        refunds by `fname` in `records`, asked since `since` (until `until`),
        whoever may read them."""
        domain = [
            ("company_id", "=", company.id),
            (fname, "in", records.ids),
            ("state", "in", OVERSIGHT_COUNTED_STATES),
            ("date", ">=", since),
        ]
        if until:
            domain.append(("date", "<", until))
        # sudo: every refund counts, whoever made it
        groups = self.env["client.refund"].sudo()._read_group(
            domain, [fname], ["__count", "amount_company_currency:sum"]
        )
        return {record.with_env(self.env): (count, amount) for record, count, amount in groups}

    @api.model
    def _get_company_midnight(self, company, day):
        """Midnight of `day` in the company's refund time zone, in UTC, as the
        ORM stores datetimes."""
        tz = pytz.timezone(company.client_refund_tz or "UTC")
        midnight = tz.localize(datetime.combine(day, time.min))
        return midnight.astimezone(pytz.utc).replace(tzinfo=None)

    # ------------------------------------------------------------------
    # The daily digest
    # ------------------------------------------------------------------

    @api.model
    def _cron_send_oversight_digest(self):
        """E-mail each company's subscribed refund managers the flagged refunds
        of the company's previous day, once a day per company: the company's
        row is locked, and the day marked sent, in the transaction that sends
        it, so that servers running the job at once send it once."""
        for company in self.env["res.company"].search([]):
            today = company._client_refund_today()
            if not self._take_digest_day(company, today):
                continue
            managers = self._get_digest_managers(company)
            refunds = self.env["client.refund"].search(
                [
                    ("company_id", "=", company.id),
                    ("is_flagged", "=", True),
                    ("date", ">=", self._get_company_midnight(company, today - timedelta(days=1))),
                    ("date", "<", self._get_company_midnight(company, today)),
                ],
                order="date, id",
            )
            company.client_refund_digest_date = today
            if managers and refunds:
                self._send_oversight_digest(company, managers, refunds, today - timedelta(days=1))

    @api.model
    def _take_digest_day(self, company, today):
        """Lock `company` for this transaction if its digest of `today` is not
        sent; False when another transaction holds it or has sent it."""
        company.flush_recordset(["client_refund_digest_date"])
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(
                    SQL(
                        "SELECT id FROM res_company WHERE id = %s AND "
                        "(client_refund_digest_date IS NULL OR client_refund_digest_date < %s) "
                        "FOR NO KEY UPDATE SKIP LOCKED",
                        company.id,
                        today,
                    ),
                    log_exceptions=False,
                )
                return bool(self.env.cr.fetchone())
        except psycopg2.errors.SerializationFailure:
            # another transaction sent it since this one began
            return False

    @api.model
    def _get_digest_managers(self, company):
        managers = self.env.ref("client_refund.group_client_refund_manager").users
        return managers.filtered(
            lambda user: user.client_refund_digest
            and user.active
            and company in user.company_ids
            and user.email
        )

    @api.model
    def _send_oversight_digest(self, company, managers, refunds, day):
        template = self.env.ref("client_refund.mail_template_client_refund_digest")
        template.with_context(
            client_refund_digest_ids=refunds.ids, client_refund_digest_day=day
        ).send_mail(
            company.id,
            email_layout_xmlid="mail.mail_notification_light",
            email_values={"recipient_ids": [(6, 0, managers.partner_id.ids)]},
        )


class ClientRefundFlagReport(models.Model):
    """One row per flag of a flagged refund: the manager's graph of flagged
    refunds by flag and staff."""

    _name = "client.refund.flag.report"
    _description = "Flagged Refunds"
    _auto = False
    _order = "date desc, refund_id desc"
    # what the view reads, flushed before it is queried
    _depends = {
        "client.refund": [
            *(fname for fname, _label in OVERSIGHT_FLAGS),
            "user_id",
            "partner_id",
            "company_id",
            "date",
            "request_date",
            "amount_company_currency",
        ],
        "res.company": ["currency_id"],
    }

    refund_id = fields.Many2one(comodel_name="client.refund", readonly=True)
    flag = fields.Selection(
        selection=[(fname, label) for fname, label in OVERSIGHT_FLAGS], readonly=True
    )
    user_id = fields.Many2one(comodel_name="res.users", string="Requested By", readonly=True)
    partner_id = fields.Many2one(comodel_name="res.partner", string="Client", readonly=True)
    company_id = fields.Many2one(comodel_name="res.company", readonly=True)
    currency_id = fields.Many2one(comodel_name="res.currency", readonly=True)
    date = fields.Datetime(string="Requested On", readonly=True)
    request_date = fields.Date(readonly=True)
    state = fields.Selection(related="refund_id.state")
    amount = fields.Monetary(
        string="Amount in Company Currency", currency_field="currency_id", readonly=True
    )

    def _create_view(self):
        """Created by the register once its table has the flags (see
        client.refund.oversight._auto_init): the register is set up after this model."""
        tools.drop_view_if_exists(self.env.cr, self._table)
        rows = SQL(" UNION ALL ").join(
            SQL(
                "SELECT refund.id * %(flags)s + %(index)s AS id, refund.id AS refund_id, "
                "%(flag)s AS flag, refund.user_id, refund.partner_id, refund.company_id, "
                "company.currency_id, refund.date, refund.request_date, "
                "refund.amount_company_currency AS amount "
                "FROM client_refund refund "
                "JOIN res_company company ON company.id = refund.company_id "
                "WHERE refund.%(column)s",
                flags=len(OVERSIGHT_FLAGS),
                index=index,
                flag=fname,
                column=SQL.identifier(fname),
            )
            for index, (fname, _label) in enumerate(OVERSIGHT_FLAGS)
        )
        self.env.cr.execute(
            SQL("CREATE OR REPLACE VIEW %s AS (%s)", SQL.identifier(self._table), rows)
        )
