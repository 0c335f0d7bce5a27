import math
from collections import defaultdict

import psycopg2

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL, float_compare

def get_document_fields(model, prefix="", field_type="many2one"):
    """{document model: field name}: the fields of `model` (the register, a
    wizard, a line) named `prefix`... that hold a record of another model. A
    new kind of refundable document needs no mapping written anywhere: its
    field on the register (``source_<document>_id``) and on the wizard say it."""
    return {
        field.comodel_name: name
        for name, field in model._fields.items()
        if field.type == field_type and name.startswith(prefix) and field.comodel_name
    }


def get_source_fields(model, prefix=""):
    """{refundable document model: field name} of `model`: its Many2one fields
    to a client.refund.source, named `prefix`..."""
    return {
        comodel: name
        for comodel, name in get_document_fields(model, prefix).items()
        # by name, not by class: a registry rebuilt in place makes new classes
        if any(getattr(cls, "_name", None) == "client.refund.source" for cls in model.pool[comodel].__mro__)
    }


# No client is refunded a trillion: beyond it a number is a typo or a probe,
# and float arithmetic stops rounding to the cent.
MAX_AMOUNT = 1e12
# what PostgreSQL's integer column holds
MAX_INTEGER = 2**31 - 1


class RefundOwnPath:
    """The context value that opens the refund's own path (see refund_own_path)."""

    __slots__ = ("undoing_ids",)

    def __init__(self, undoing_ids=None):
        self.undoing_ids = undoing_ids

    def __repr__(self):
        return f"<client_refund own path, undoing {self.undoing_ids}>"


REFUND_OWN_PATH_KEY = "client_refund_own_path"


def refund_own_path(records, undoing=None):
    """`records` in an environment where the refund's own code may change what
    refunds booked: unmatch and match again an invoice's family (no
    `undoing`), or reset, cancel and reverse the entries and payouts of the
    refunds `undoing` (their cancellation or failure), never another refund's;
    also where core's till records, once checked, what an order earned on
    loyalty cards (see pos.order.add_loyalty_history_lines), where the
    register posts a credit note or makes a refund order's lines once it
    applied the refund policies.
    A JSON-RPC caller may send any context key, but no Python object as its
    value: this gate cannot be forged."""
    path = RefundOwnPath(tuple(undoing.ids) if undoing is not None else None)
    return records.with_context(**{REFUND_OWN_PATH_KEY: path})


def get_refund_own_path(env):
    path = env.context.get(REFUND_OWN_PATH_KEY)
    return path if isinstance(path, RefundOwnPath) else None


def check_number(value, label):
    """Refuse NaN, Infinity and numbers no currency holds, with a clear error:
    JSON-RPC parses `NaN` and `Infinity`, and Python's rounding then raises
    ValueError deep in a computation."""
    if isinstance(value, str):
        # the ORM turns a string into a float: "NaN" too
        try:
            value = float(value)
        except ValueError:
            return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if (isinstance(value, float) and not math.isfinite(value)) or abs(value) >= MAX_AMOUNT:
        raise ValidationError(_("%(field)s is not a valid number: %(value)s.", field=label, value=value))


def lock_rows(records):
    """Take `records` for this transaction, or say at once that someone else
    has them: two people refunding the same thing never both succeed."""
    if not records:
        return
    try:
        with records.env.cr.savepoint(flush=False):
            records.env.cr.execute(
                SQL(
                    "SELECT id FROM %s WHERE id IN %s FOR NO KEY UPDATE NOWAIT",
                    SQL.identifier(records._table),
                    tuple(records.ids),
                )
            )
    except psycopg2.errors.LockNotAvailable:
        raise UserError(
            records.env._(
                "%s is being refunded by someone else right now. Reload it and "
                "check what is left to refund.",
                ", ".join(records.mapped("display_name")),
            )
        ) from None
    # Touch the rows: a request whose snapshot predates this refund's commit
    # then fails to lock them with a serialization error, and Odoo retries it
    # with fresh data, instead of refunding from stale quantities.
    records.env.cr.execute(
        SQL(
            "UPDATE %s SET write_date = write_date WHERE id IN %s",
            SQL.identifier(records._table),
            tuple(records.ids),
        )
    )
    records.invalidate_recordset()


def check_number_type(env, value, label):
    """Refuse what is no number at all ("abc", a list): the ORM would raise a
    ValueError or a TypeError."""
    if value is None or value is False or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return
    if isinstance(value, str) and is_number_text(value):
        return
    raise ValidationError(env._("%(field)s is not a valid number: %(value)r.", field=label, value=value))


def is_number_text(text):
    """`text` reads as a number, as the ORM will read it."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_numbers(model, vals, strict=True):
    """check_number on every float and amount of `vals` for `model`, and of the
    lines they create or update; `strict`: a name that is no field of `model`
    is refused too."""
    for fname, value in vals.items():
        field = model._fields.get(fname)
        if not field and not strict:
            continue
        if not field:
            # core would answer a ValueError: "Invalid field"
            raise ValidationError(
                model.env._("%(model)s has no field %(field)s.", model=model._description, field=fname)
            )
        if field.type in ("float", "monetary", "integer"):
            check_number_type(model.env, value, field.string)
            check_number(value, field.string)
            if field.type == "integer" and value and abs(int(float(value))) > MAX_INTEGER:
                raise ValidationError(
                    model.env._("%(field)s is not a valid number: %(value)s.", field=field.string, value=value)
                )
        elif (
            strict  # the form sends a record as a dict
            and field.type == "many2one"
            and value
            and (isinstance(value, bool) or not isinstance(value, (int, models.BaseModel)))
        ):
            # core would answer a database error
            raise ValidationError(
                model.env._("%(field)s cannot be %(value)r.", field=field.string, value=value)
            )
        elif field.type == "selection" and not isinstance(field.selection, str):
            # a value the field does not have would be a ValueError (HTTP 500),
            # no value for a required one a NOT NULL violation
            if (value or field.required) and value not in dict(
                field._description_selection(model.env)
            ):
                raise ValidationError(
                    model.env._("%(field)s cannot be %(value)r.", field=field.string, value=value)
                )
        elif field.type == "one2many" and isinstance(value, (list, tuple)):
            for command in value:
                if isinstance(command, (list, tuple)) and len(command) == 3 and isinstance(command[2], dict):
                    check_numbers(model.env[field.comodel_name], command[2], strict)


class ClientRefundSource(models.AbstractModel):
    """The refund protocol: what every refundable document (invoice, payment,
    POS order, loyalty card, membership line) says and does for a refund.

    Each source implements:

    * ``_client_refund_get_source_type``: what a refund of it is called;
    * ``_client_refund_get_refundable_amount(exclude_refund)``: what is left to
      refund, counting every earlier refund of it, whoever made it;
    * ``_client_refund_compute_amount(refund)``: what `refund` will credit, tax
      included, derived from the refund's scope, lines and amount: approval is
      decided on it and execution must land on it;
    * ``_client_refund_check_own_request(refund)``: its own checks, after the
      shared ones of ``_client_refund_check_request``;
    * ``_client_refund_execute(refund)``: the refund itself, returning what it
      made for the register.

    It has a chatter (mail.thread): the refund's story is logged there. The
    register names it in a field ``source_<document>_id`` and the refund
    wizard in one more (see the README's Design section); every other hook
    below has a default. The shared checks, the row lock and the defaults are
    written here once.
    """

    _name = "client.refund.source"
    _description = "Refundable Document"
    # the ways a refund of the document may pay the money back
    _client_refund_payout_methods = ("journal", "card", "credit")
    # a sale made at a Point of Sale till is reversed through a till
    _client_refund_sold_at_till = False
    # the refund wizard offers the document's lines to choose from (see
    # _client_refund_get_line_balances and _client_refund_get_asked_quantities)
    _client_refund_by_lines = False

    # each source's own One2many `client_refund_ids` (its inverse is the
    # register's field that names it, see client.refund.document) lists its refunds
    client_refund_count = fields.Integer(
        compute="_compute_client_refund_count",
        groups="client_refund.group_client_refund_user",
    )

    def _compute_client_refund_count(self):
        fname = self.env["client.refund"]._get_source_fields()[self._name]
        counts = dict(
            self.env["client.refund"]._read_group([(fname, "in", self.ids)], [fname], ["__count"])
        )
        for document in self:
            document.client_refund_count = counts.get(document, 0)

    def action_view_client_refunds(self):
        self.ensure_one()
        refunds = self.client_refund_ids
        if len(refunds) == 1:
            # as core's wizards open what they made: no action to read
            return {
                "type": "ir.actions.act_window",
                "name": _("Refund"),
                "res_model": "client.refund",
                "res_id": refunds.id,
                "view_mode": "form",
                "views": [(False, "form")],
            }
        action = self.env["ir.actions.act_window"]._for_xml_id("client_refund.client_refund_action")
        action["domain"] = [("id", "in", refunds.ids)]
        return action

    def _client_refund_get_source_type(self):
        raise NotImplementedError

    def _client_refund_get_refundable_amount(self, exclude_refund=None):
        raise NotImplementedError

    def _client_refund_compute_amount(self, refund):
        raise NotImplementedError

    def _client_refund_check_own_request(self, refund):
        raise NotImplementedError

    def _client_refund_execute(self, refund):
        raise NotImplementedError

    # ------------------------------------------------------------------
    # Defaults
    # ------------------------------------------------------------------

    def _client_refund_get_currency(self):
        return self.currency_id

    def _client_refund_get_company(self):
        return self.company_id

    def _client_refund_get_client(self):
        """Who paid: the money goes back to them only."""
        return self.partner_id.commercial_partner_id

    def _client_refund_check_refundable(self):
        """Refuse a document that cannot be refunded at all (not posted, not paid...)."""

    def _client_refund_get_paid_back_amount(self, amount):
        """What a refund of `amount` gives back in money."""
        return amount

    def _client_refund_get_tenders(self):
        """[(label, amount)]: how the client paid and what each way has left."""
        return []

    def _client_refund_get_card_transaction(self):
        """The Stripe payment a refund of this document goes back to. It only
        reads: the wizard asks it while the form is filled."""
        return self.env["payment.transaction"]

    def _client_refund_ensure_card_transaction(self):
        """The Stripe payment a refund being made goes back to, recorded if it
        is not yet (see pos.order)."""
        return self._client_refund_get_card_transaction()

    def _client_refund_get_card_provider(self):
        """The Stripe provider that sends a card refund of this document."""
        # sudo: providers are kept for payment administrators
        return self._client_refund_get_card_transaction().sudo().provider_id

    def _client_refund_get_tender_journals(self):
        """{journal: what the client paid through this cash or bank journal and
        was not paid back yet}, the card left apart."""
        return {}

    def _client_refund_get_default_payout(self):
        """(payout method, journal) a refund proposes: the way the client paid,
        the tender with the most left; the card when it has the most left."""
        self.ensure_one()
        journals = self._client_refund_get_tender_journals()
        journal = max(journals, key=journals.get) if journals else self.env["account.journal"]
        card_left = self._client_refund_get_card_refundable_amount()
        if self._client_refund_get_currency().compare_amounts(
            card_left, max(journals.values(), default=0.0)
        ) >= 0 and card_left > 0:
            return "card", journal
        return "journal", journal

    def _client_refund_get_card_refundable_amount(self, exclude_refund=None):
        card_payment = self._client_refund_get_card_transaction()
        if not card_payment:
            return 0.0
        return card_payment._client_refund_get_card_refundable_amount(exclude_refund)

    def _client_refund_get_sale_documents(self):
        """[invoice or Point of Sale order]: the sales whose money a refund of
        this document gives back. The refunds of one sale add up against the
        approval threshold, whichever document each was launched from. By
        default the document itself, when the register records its kind of
        sale (a ``sale_..._ids`` field, see client.refund.document)."""
        self.ensure_one()
        return [self] if self._name in self.env["client.refund"]._get_sale_document_fields() else []

    def _client_refund_get_refunded_products(self, refund):
        """The products `refund` would credit, for the balance products check."""
        return self.env["product.product"]

    def _client_refund_check_void(self, refund):
        raise UserError(_("Only a payment can be voided, not %s.", self.display_name))

    def _client_refund_get_line_balances(self):
        """{line: {"quantity", "amount"}}: what is left to refund of each line of
        a document refunded by lines (tax included), after every refund of it."""
        return {}

    def _client_refund_get_asked_quantities(self, refund, balances=None):
        """{line: quantity} of a refund by lines, each checked against what is
        left of its line (`balances`, see _client_refund_get_line_balances)."""
        raise UserError(_("%s is not refunded by lines.", self.display_name))

    def _client_refund_get_policy_lines(self, refund):
        """[(product, amount)]: what `refund` credits, tax included, by the
        product whose refund policy governs it; no product for the company's
        default policy. Line by line, the amounts may miss the refund's by the
        cents its taxes and rounding put on the whole (see
        client.refund.fees._get_policy_bases)."""
        return [(self.env["product.product"], refund.amount)]

    def _client_refund_is_paid_by_card(self):
        """The document was paid by card, online or at a terminal: the
        register flags its refund in cash (see client.refund.oversight)."""
        return bool(self._client_refund_get_card_transaction())

    def _client_refund_get_sellers(self):
        """The users who made the sale: the register flags their own refunds
        of it (see client.refund.oversight)."""
        return self.env["res.users"]

    def _client_refund_get_fee_store_credit(self, refund):
        """What of the fees `refund` keeps stays the client's as store credit
        on the eWallet rather than income: a deposit's, when its policy says so."""
        return 0.0

    def _client_refund_get_policy_date(self):
        """The day the refund window of the document's policies counts from:
        the day of the sale."""
        return False

    def _client_refund_get_points_note(self, amount):
        """What the wizard says, before Confirm, of the loyalty points that a
        refund of `amount` cannot take back, or False."""
        return False

    def _client_refund_get_refunded_outside(self, currency=None):
        """Card refunds of the document made outside the register (the Stripe
        Dashboard, core's Refund button), money already gone back, in
        `currency` (the document's by default)."""
        return 0.0

    @api.model
    def _client_refund_search_client_documents(self, client, limit):
        """The newest documents of this kind of `client` (a commercial partner)
        that a refund may start from, at most `limit`: the client's Refund page
        keeps those still refundable."""
        return self.browse()

    def _client_refund_get_receipt_description(self):
        """What the receipt says was refunded when it lists no lines."""
        self.ensure_one()
        return self.display_name

    def _client_refund_check_ewallet_split(self, refund):
        """Part onto the eWallet, the rest one other way, each within what it
        can take."""
        currency = refund.currency_id
        check_number(refund.amount_ewallet, _("The part onto the eWallet"))
        if refund.payout_method not in ("journal", "card", "pos"):
            raise UserError(_("Store credit is split with cash, bank, the till or the card only."))
        money_back = refund._get_money_back()
        self._client_refund_check_ewallet_rest(refund, money_back - refund.amount_ewallet)
        if currency.compare_amounts(refund.amount_ewallet, 0.0) <= 0 or currency.compare_amounts(
            refund.amount_ewallet, money_back
        ) >= 0:
            raise UserError(
                _(
                    "The part onto the eWallet is more than 0 and less than the %(amount)s "
                    "paid back, not %(asked)s: put it all on the eWallet, or less.",
                    amount=currency.format(money_back),
                    asked=currency.format(refund.amount_ewallet),
                )
            )

    def _client_refund_check_ewallet_rest(self, refund, rest):
        """Refuse what a split with the eWallet leaves for the other way, when
        that way cannot pay it (a till rounding cash)."""

    def _client_refund_get_till_ways(self, config):
        """How the till of `config` pays a refund of this document back, in the
        money line's words: the tenders of the sale it reverses."""
        return _("in cash")

    def _client_refund_get_settled_words(self, settled):
        """What the money line says of the part of a refund that is no money
        back (`settled`), or an empty string."""
        return ""

    # ------------------------------------------------------------------
    # A document that sold a card or a membership
    # ------------------------------------------------------------------

    def _client_refund_get_sale_line_name(self, line):
        """How the balance wizard and the receipt name a sale `line` of this document."""
        raise NotImplementedError

    def _client_refund_get_sale_date(self):
        """The day this document sold what it sold."""
        raise NotImplementedError

    def _client_refund_check_sale_paid(self, what):
        """Refuse paying `what` (a card or membership this document sold) out in
        cash when the document is not paid in full."""

    # ------------------------------------------------------------------
    # The shared checks
    # ------------------------------------------------------------------

    def _client_refund_check_request(self, refund):
        """Refuse, before anything is written, a refund this document cannot
        take. Also called on the invoice or POS order that sold a card or a
        membership, with the card's or membership's refund."""
        self.ensure_one()
        is_own_source = refund._get_source() == self
        self._client_refund_check_refundable()
        company = self._client_refund_get_company()
        if company and refund.company_id != company:
            raise UserError(
                _(
                    "%(document)s belongs to %(company)s, not to %(other)s.",
                    document=self.display_name,
                    company=company.name,
                    other=refund.company_id.name,
                )
            )
        if is_own_source and refund.source_type != self._client_refund_get_source_type():
            raise UserError(_("%s is not what this refund says it refunds.", self.display_name))
        if is_own_source and refund.currency_id != self._client_refund_get_currency():
            raise UserError(
                _(
                    "%(document)s is in %(currency)s: it is refunded in %(currency)s, not "
                    "in %(other)s.",
                    document=self.display_name,
                    currency=self._client_refund_get_currency().name,
                    other=refund.currency_id.name,
                )
            )
        if refund.scope == "void":
            self._client_refund_check_void(refund)
        self._client_refund_check_client(refund)
        if is_own_source:
            self._client_refund_check_payout(refund)
            self._client_refund_check_no_balance_sold(self._client_refund_get_refunded_products(refund))
        self._client_refund_check_own_request(refund)

    def _client_refund_check_payout(self, refund):
        """The money goes back a way the document allows; a void moves none."""
        method = refund.payout_method
        if (refund.scope == "void") != (method == "none"):
            raise UserError(_("A voided payment moves no money, and a refund says how it pays back."))
        allowed = self._client_refund_payout_methods + (("none",) if refund.scope == "void" else ())
        if method not in allowed:
            labels = dict(refund._fields["payout_method"]._description_selection(self.env))
            raise UserError(
                _(
                    "%(document)s is not paid back by %(method)s: choose %(methods)s.",
                    document=self.display_name,
                    method=labels.get(method, method),
                    methods=", ".join(labels[name] for name in self._client_refund_payout_methods),
                )
            )

    def _client_refund_check_card_request(self, refund):
        """What goes back to the card fits what the card payment has left."""
        self.env["client.refund.dispute"]._check_card_not_disputed(self)
        currency = refund.currency_id
        card_left = self._client_refund_get_card_refundable_amount(exclude_refund=refund)
        if currency.is_zero(card_left):
            raise UserError(
                _("%s was not paid online with Stripe: pay it back another way.", self.display_name)
            )
        provider = self._client_refund_get_card_provider()
        if provider.state == "disabled":
            raise UserError(
                _(
                    "The Stripe provider %s is disabled: Odoo cannot send the refund to "
                    "the card. Pay it back another way.",
                    provider.name,
                )
            )
        to_card = refund._get_money_back() - refund.amount_ewallet
        if currency.is_zero(to_card):
            raise UserError(
                _(
                    "The refund only settles what the client still owes: nothing goes "
                    "back to the card. Keep it as client credit."
                )
            )
        if currency.compare_amounts(to_card, card_left) > 0:
            raise UserError(
                _(
                    "The card can take back at most %(left)s, not %(asked)s: pay the "
                    "rest back another way.",
                    left=currency.format(card_left),
                    asked=currency.format(to_card),
                )
            )

    def _client_refund_get_waiting_card_refunds(self, exclude_refund=None):
        """Card refunds of this document on their way to Stripe and not booked
        yet, but `exclude_refund`, the one being checked, sent or booked."""
        self.ensure_one()
        # sudo: every refund of the document counts, whoever made it
        return self.env["client.refund"].sudo().search(
            [
                (self.env["client.refund"]._get_source_fields()[self._name], "=", self.id),
                ("state", "=", "pending"),
                # a refund not saved yet waits for nothing
                ("id", "!=", exclude_refund._origin.id if exclude_refund else False),
            ]
        ).filtered(lambda refund: refund.payment_transaction_id.state != "done")

    def _client_refund_get_refunds_to_approve(self, exclude_refund=None):
        """Refunds of this document waiting for a manager's approval, but
        `exclude_refund`: nothing went back yet, and what they ask is taken."""
        self.ensure_one()
        # sudo: every refund of the document counts, whoever made it
        return self.env["client.refund"].sudo().search(
            [
                (self.env["client.refund"]._get_source_fields()[self._name], "=", self.id),
                ("state", "=", "to_approve"),
                ("id", "!=", exclude_refund._origin.id if exclude_refund else False),
            ]
        )

    def _client_refund_get_waiting_notes(self):
        """{document: what its refunds waiting for a manager or for Stripe ask,
        in words}, for the wizard and the client's Refund page."""
        fname = self.env["client.refund"]._get_source_fields()[self._name]
        # sudo: every refund of the document counts, whoever made it
        groups = self.env["client.refund"].sudo()._read_group(
            [(fname, "in", self.ids), ("state", "in", ("to_approve", "pending"))],
            [fname, "state", "currency_id"],
            ["amount:sum", "name:array_agg"],
        )
        notes = defaultdict(list)
        for document, state, currency, amount, names in groups:
            words = {
                "to_approve": _("%(amount)s waits for approval: %(refunds)s"),
                "pending": _("%(amount)s waits for Stripe: %(refunds)s"),
            }[state]
            notes[document].append(
                words % {"amount": currency.format(amount), "refunds": ", ".join(sorted(names))}
            )
        return {document: "; ".join(parts) for document, parts in notes.items()}

    def _client_refund_get_amount_waiting_for_card(self, exclude_refund=None):
        return sum(self._client_refund_get_waiting_card_refunds(exclude_refund).mapped("amount"))

    def _client_refund_check_client(self, refund):
        """A refund goes to the client who paid, not to someone else, and not to
        nobody when someone paid."""
        client = self._client_refund_get_client()
        asked = refund.partner_id.commercial_partner_id
        if not client and refund.payout_journal_id.type == "bank":
            raise UserError(
                _(
                    "Nobody is known to have paid %s: its refund goes back in cash or at "
                    "the till, to whoever brings it, not to a bank account.",
                    self.display_name,
                )
            )
        if not client and asked:
            raise UserError(
                _(
                    "Nobody is known to have paid %(document)s: its refund goes to whoever "
                    "brings it, not to %(other)s.",
                    document=self.display_name,
                    other=asked.display_name,
                )
            )
        if client != asked:
            raise UserError(
                _(
                    "%(document)s was paid by %(client)s, not by %(other)s.",
                    document=self.display_name,
                    client=client.display_name,
                    other=asked.display_name or _("nobody"),
                )
            )

    def _client_refund_check_no_balance_sold(self, products):
        """A gift card, eWallet top-up, visit pack or membership sold on this
        document is refunded from the card or the membership, so that its
        balance follows and it cannot be paid back twice; their own refunds
        reverse the sale."""
        balances = self._client_refund_get_balance_products(products)
        if balances:
            raise UserError(
                _(
                    "%(document)s sold %(products)s: refund them from the card or the "
                    "membership (its Refund button, or the client's Refunds page), so "
                    "that the balance follows. Pick the other lines to refund the rest.",
                    document=self.display_name,
                    products=", ".join(balances.mapped("display_name")),
                )
            )

    @api.model
    def _client_refund_get_balance_products(self, products):
        """Of `products`, those that sell a gift card, an eWallet top-up, a visit
        pack or a membership."""
        if not products:
            return products
        # sudo: programs are read for staff without Loyalty rights
        programs = self.env["loyalty.program"].sudo().search(
            [
                ("trigger_product_ids", "in", products.ids),
                "|",
                ("program_type", "in", ("gift_card", "ewallet")),
                ("client_refund_is_visit_pack", "=", True),
            ]
        )
        return products.filtered(
            lambda product: product.membership or product in programs.trigger_product_ids
        )

    def _client_refund_check_amount(self, refund, refundable, message=None):
        """Refuse an amount that is not a positive number up to `refundable`."""
        currency = refund.currency_id
        check_number(refund.amount, _("The amount to refund"))
        if currency.compare_amounts(refund.amount, 0.0) <= 0:
            raise UserError(_("The amount to refund must be positive."))
        if currency.compare_amounts(refund.amount, refundable) > 0:
            raise UserError(
                message
                or _(
                    "Only %(left)s of %(document)s is left to refund, not %(asked)s.",
                    left=currency.format(refundable),
                    document=self.display_name,
                    asked=currency.format(refund.amount),
                )
            )

    def _client_refund_check_quantity(self, quantity, left, uom, label):
        """Refuse a quantity that is not positive, or above what is `left`."""
        check_number(quantity, _("The quantity to refund"))
        rounding = uom.rounding or 0.01
        if float_compare(quantity, 0.0, precision_rounding=rounding) <= 0:
            raise UserError(_("The quantity to refund must be positive."))
        if float_compare(quantity, left, precision_rounding=rounding) > 0:
            raise UserError(
                _(
                    "Only %(left)s of %(line)s are left to refund, not %(asked)s.",
                    left=left,
                    line=label,
                    asked=quantity,
                )
            )

    # ------------------------------------------------------------------
    # Doing it
    # ------------------------------------------------------------------

    def _client_refund_lock(self):
        """Take these documents for this transaction, so that two people
        refunding the same thing at once cannot both succeed."""
        lock_rows(self)
