# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
{
    "name": "Client Refunds",
    "summary": "Refund clients of appointment businesses: invoices, POS orders, "
    "deposits, gift cards, memberships, visit packs and Stripe payments",
    "version": "18.0.1.0.0",
    "category": "Accounting/Accounting",
    "author": "client_refund developers",
    "website": "https://github.com/client-refund/client_refund",
    "license": "LGPL-3",
    "depends": [
        "mail",
        "account_payment",
        "payment_stripe",
        "point_of_sale",
        "pos_stripe",
        "pos_loyalty",
        "membership",
    ],
    "data": [
        "security/client_refund_security.xml",
        "security/ir.model.access.csv",
        "data/client_refund_reason_data.xml",
        "views/client_refund_reason_views.xml",
        "views/client_refund_views.xml",
        "views/res_partner_views.xml",
        "views/res_config_settings_views.xml",
        "views/client_refund_menus.xml",
    ],
    "post_init_hook": "post_init_hook",
    "installable": True,
    "application": False,
}
