/** @odoo-module */
/* License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0). */

import {registry} from "@web/core/registry";

/*
 * From a client's form (tests/test_client_refund_tour.py opens it), refund part
 * of the client's paid invoice from the "Refunds" page, then check the register
 * record and its chatter. Selectors rest on field and button names only, so that
 * the layout of the wizard may change.
 */
registry.category("web_tour.tours").add("client_refund_partial_invoice_tour", {
    steps: () => [
        {
            content: "The client's form is open",
            trigger: ".o_breadcrumb .active:contains(Tour Client)",
        },
        {
            content: "Open the Refunds page",
            trigger: ".o_notebook .nav-link[name=client_refunds]",
            run: "click",
        },
        {
            content: "Refund the paid invoice",
            trigger:
                ".o_field_widget[name=client_refund_invoice_ids] .o_data_row:contains(INV/) button[name=action_client_refund]",
            run: "click",
        },
        {
            content: "The wizard shows what is left to refund",
            trigger: ".modal .o_field_widget[name=amount_refundable]:contains(100.00)",
        },
        {
            content: "Refund part of the amount",
            trigger: ".modal div[name=refund_mode] input[data-value=amount]",
            run: "click",
        },
        {
            content: "By amount",
            trigger: ".modal div[name=partial_by] input[data-value=amount]:checked",
        },
        {
            content: "Refund 40",
            trigger: ".modal .o_field_widget[name=amount] input",
            run: "edit 40",
        },
        {
            content: "Choose the reason",
            trigger: ".modal .o_field_widget[name=reason_id] input",
            run: "edit Service not",
        },
        {
            content: "Pick it",
            trigger: ".o-autocomplete--dropdown-item:contains(Service not satisfactory)",
            run: "click",
        },
        {
            content: "The wizard refunds 40",
            trigger: ".modal .o_field_widget[name=amount_to_refund]:contains(40.00)",
        },
        {
            content: "Confirm the refund",
            trigger: ".modal button[name=action_confirm]",
            run: "click",
        },
        {
            content: "The register record is open",
            trigger: ".o_breadcrumb .active:contains(RF/)",
        },
        {
            content: "The refund is done",
            trigger: ".o_form_view .o_field_widget[name=state] button[aria-checked=true]:contains(Done)",
        },
        {
            content: "The chatter tells who refunded what",
            trigger:
                ".o-mail-Chatter .o-mail-Message-body:contains(refunded):contains(40.00):contains(Service not satisfactory)",
        },
    ],
});
