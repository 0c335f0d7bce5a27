"""The data of `make load`, made in one `odoo-bin shell` process with batched
creates and core's own methods (action_post, account.payment.register,
pos.order.sync_from_ui, payment.transaction._set_done/_post_process).

tools/load.py pipes:  exec(<this file>); seed(env, OPTIONS); env.cr.commit()
and reads back the JSON written to OPTIONS["out"]: the ids the load refunds.
"""

# pylint: disable=import-error
import json
import time
import urllib.parse
import urllib.request

from odoo import Command, fields


def _stripe_intent(api_base, amount_cents, currency):
    """A PaymentIntent captured at the local Stripe server."""
    data = urllib.parse.urlencode({
        "amount": amount_cents, "currency": currency, "payment_method": "pm_card_visa",
        "confirm": "true",
    }).encode()
    request = urllib.request.Request(
        f"{api_base}/v1/payment_intents", data=data,
        headers={"Authorization": "Bearer sk_test_client_refund"})
    with urllib.request.urlopen(request, timeout=30) as response:
        intent = json.loads(response.read())
    if intent.get("status") != "succeeded":
        raise RuntimeError(f"local Stripe: intent {intent.get('id')} is {intent.get('status')}")
    return intent["id"]


def seed(env, options):  # noqa: C901  pylint: disable=too-many-locals,too-many-statements
    started = time.monotonic()
    say = lambda msg: print(f"[seed] {time.monotonic() - started:5.0f}s {msg}", flush=True)  # noqa: E731
    # the seed needs no chatter: tracking and creation messages off, for speed
    env = env(user=env.ref("base.user_admin"), context={
        "tracking_disable": True, "mail_create_nolog": True, "mail_notrack": True})
    su = env(su=True)
    company = env.company
    currency = company.currency_id
    journals = su["account.journal"].search(su["account.journal"]._check_company_domain(company))
    cash = journals.filtered(lambda j: j.type == "cash").sorted("id")[:1]
    bank = journals.filtered(lambda j: j.type == "bank").sorted("id")[:1]
    sale_journal = journals.filtered(lambda j: j.type == "sale").sorted("id")[:1]
    company.client_refund_journal_id = cash
    # a salon's refunds stay under the approval threshold: none waits for a manager
    company.client_refund_approval_threshold = 10_000.0
    su["ir.config_parameter"].set_param("client_refund.stripe_api_base", options["stripe"])
    env["ir.sequence"].next_by_code("client.refund")  # the year's date range exists

    # ------------------------------------------------------------------ people
    groups = [env.ref(xmlid).id for xmlid in (
        "base.group_user", "client_refund.group_client_refund_user",
        "account.group_account_invoice",
        # core's path pays a POS refund order with pos.make.payment: POS managers only
        "point_of_sale.group_pos_manager")]
    logins = [f"load_user_{index:02d}" for index in range(options["users"])]
    su["res.users"].with_context(no_reset_password=True).create([
        {"name": f"Load Staff {login[-2:]}", "login": login, "password": login,
         "email": f"{login}@example.com", "company_id": company.id,
         "company_ids": [Command.set(company.ids)], "groups_id": [Command.set(groups)]}
        for login in logins
    ])
    clients = env["res.partner"].create([
        {"name": f"Load Client {index:03d}", "email": f"client{index:03d}@example.com"}
        for index in range(100)
    ])
    services = env["product.product"].create([
        {"name": name, "type": "service", "list_price": price, "available_in_pos": True,
         "taxes_id": [Command.clear()]}
        for name, price in (("Load haircut", 60.0), ("Load colour", 90.0),
                            ("Load treatment", 40.0))
    ])
    say(f"{len(logins)} refund users, {len(clients)} clients")

    # ------------------------------------------------------------------ invoices
    def invoice_vals(index):
        lines = [Command.create({"product_id": services[index % 3].id, "quantity": 1,
                                 "price_unit": services[index % 3].list_price, "tax_ids": []})]
        if index % 2:
            lines.append(Command.create({"product_id": services[(index + 1) % 3].id,
                                         "quantity": 1, "tax_ids": [],
                                         "price_unit": services[(index + 1) % 3].list_price}))
        return {"move_type": "out_invoice", "partner_id": clients[index % len(clients)].id,
                "invoice_line_ids": lines}

    n_card = options["card_invoices"]
    n_cash = options["invoices"] - n_card
    cash_invoices = env["account.move"]
    for start in range(0, n_cash, 250):
        batch = env["account.move"].create(
            [invoice_vals(index) for index in range(start, min(n_cash, start + 250))])
        batch.action_post()
        env["account.payment.register"].with_context(
            active_model="account.move", active_ids=batch.ids,
        ).create({"journal_id": cash.id, "group_payment": False})._create_payments()
        cash_invoices |= batch
        env.cr.commit()
        say(f"{len(cash_invoices)} invoices paid in cash")

    provider = su.ref("payment.payment_provider_stripe").copy({
        "name": "Stripe (load)", "company_id": company.id, "state": "test",
        "stripe_secret_key": "sk_test_client_refund",
        "stripe_publishable_key": "pk_test_client_refund",
        "stripe_webhook_secret": "whsec_client_refund_load", "journal_id": bank.id,
    })
    card_method = env.ref("payment.payment_method_card")
    provider.payment_method_ids = [Command.link(card_method.id)]
    card_invoices = env["account.move"].create([invoice_vals(index) for index in range(n_card)])
    card_invoices.action_post()
    for invoice in card_invoices:
        intent = _stripe_intent(options["stripe"], round(invoice.amount_total * 100),
                                currency.name.lower())
        transaction = su["payment.transaction"].create({
            "provider_id": provider.id, "payment_method_id": card_method.id,
            "amount": invoice.amount_total, "currency_id": currency.id,
            "partner_id": invoice.partner_id.id, "operation": "online_direct",
            "invoice_ids": [Command.set(invoice.ids)], "provider_reference": intent,
        })
        transaction._set_done()
        transaction._post_process()
    env.cr.commit()
    say(f"{len(card_invoices)} invoices paid by card at the local Stripe server")

    # ------------------------------------------------------------------ POS
    till = su["account.journal"].create({"name": "Load Till", "type": "cash", "code": "LTIL",
                                         "company_id": company.id})
    pos_cash = su["pos.payment.method"].create({"name": "Load Cash", "journal_id": till.id,
                                                 "company_id": company.id})
    config = su["pos.config"].create({"name": "Load Salon", "invoice_journal_id": sale_journal.id,
                                      "payment_method_ids": [Command.set(pos_cash.ids)]})
    config.with_user(env.user).open_ui()
    session = config.current_session_id
    session.set_opening_control(0, None)
    orders = env["pos.order"]
    for start in range(0, options["pos_orders"], 100):
        order_data = []
        for number in range(start, min(options["pos_orders"], start + 100)):
            products = [services[number % 3], services[(number + 1) % 3]]
            total = sum(p.list_price for p in products)
            order_data.append({
                "uuid": f"load-order-{number}", "name": f"Load order {number}",
                "session_id": session.id, "sequence_number": number + 1, "user_id": env.uid,
                "partner_id": clients[number % len(clients)].id,
                "pricelist_id": config.pricelist_id.id, "fiscal_position_id": False,
                "date_order": fields.Datetime.to_string(fields.Datetime.now()),
                "lines": [(0, 0, {"product_id": p.id, "qty": 1.0, "price_unit": p.list_price,
                                  "price_subtotal": p.list_price,
                                  "price_subtotal_incl": p.list_price, "tax_ids": [],
                                  "pack_lot_ids": []}) for p in products],
                "payment_ids": [(0, 0, {"amount": total, "name": fields.Datetime.now(),
                                        "payment_method_id": pos_cash.id})],
                "amount_paid": total, "amount_total": total, "amount_tax": 0.0,
                "amount_return": 0.0, "last_order_preparation_change": "{}",
                "to_invoice": False,
            })
        result = env["pos.order"].sync_from_ui(order_data)
        orders |= env["pos.order"].browse([order["id"] for order in result["pos.order"]])
        env.cr.commit()
    if set(orders.mapped("state")) - {"paid", "done"}:
        raise RuntimeError(f"POS orders not paid: {set(orders.mapped('state'))}")
    say(f"{len(orders)} paid POS orders in session {session.name}")

    # ------------------------------------------------------------------ gift cards
    card_product = env["product.product"].create({"name": "Load gift card", "type": "service",
                                                  "list_price": 50.0, "taxes_id": []})
    program = su["loyalty.program"].create({
        "name": "Load gift cards", "program_type": "gift_card",
        "client_refund_allow_balance": True,
        "rule_ids": [Command.create({"reward_point_mode": "money",
                                     "product_ids": card_product.ids})],
        "reward_ids": [Command.create({"discount_mode": "per_point", "discount": 1.0})],
    })
    gift_cards = su["loyalty.card"].create([
        {"program_id": program.id, "partner_id": clients[index % len(clients)].id,
         "points": 50.0}
        for index in range(options["gift_cards"])
    ])
    env.cr.commit()
    say(f"{len(gift_cards)} gift cards")

    with open(options["out"], "w", encoding="utf-8") as f:
        json.dump({
            "logins": logins,
            "reason": env.ref("client_refund.reason_client_request").id,
            "cash_journal": cash.id,
            "sale_journal": sale_journal.id,
            "pos_cash": pos_cash.id,
            "session": session.id,
            "cash_invoices": cash_invoices.ids,
            "card_invoices": card_invoices.ids,
            "pos_orders": orders.ids,
            "busiest_client": clients[0].id,
            "seconds": round(time.monotonic() - started),
        }, f)
