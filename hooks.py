def post_init_hook(env):
    """Give every existing company its refund numbering and, where it already has
    a chart of accounts, its Refund expense account."""
    companies = env["res.company"].search([])
    companies._client_refund_create_sequence()
    companies.filtered("chart_template")._client_refund_create_refund_account()
