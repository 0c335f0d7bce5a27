/** @odoo-module */
/* License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0). */

import {registry} from "@web/core/registry";

/*
 * The front desk refunds, as a receptionist without accounting rights
 * (tests/test_client_refund_tour.py opens each page and checks what was booked).
 * Before Confirm each tour reads the money line and checks that no choice that
 * would be refused is on screen. Selectors rest on field and button names, so
 * that the layout may change.
 */

function absent(selector, content) {
    return {content, trigger: `.modal .o_form_view:not(:has(${selector}))`};
}

function confirmed() {
    return [
        {
            content: "Confirm",
            trigger: ".modal button[name=action_confirm]:visible",
            run: "click",
        },
        {
            content: "Staff are told it is done, with its receipt",
            trigger: ".o_notification:contains(RF/):contains(Done) a:contains(Print receipt)",
        },
        {
            content: "The wizard closed on the page it was opened from",
            trigger: "body:not(:has(.modal .o_form_view))",
        },
    ];
}

// Three clicks after the client's form opens: the Refund page, the invoice's
// Refund button, Confirm. The reason and the way back are proposed.
registry.category("web_tour.tours").add("client_refund_full_cash_tour", {
    steps: () => [
        {
            content: "Click 1: the client's Refund page",
            trigger: ".o_notebook .nav-link[name=client_refunds]",
            run: "click",
        },
        {
            content: "Click 2: Refund on the paid invoice",
            trigger:
                ".o_field_widget[name=client_refund_invoice_ids] .o_data_row:contains(INV/) button[name=action_client_refund]",
            run: "click",
        },
        {
            content: "Everything left, in cash, as the client paid",
            trigger:
                ".modal .o_field_widget[name=money_line]:contains(The client gets back):contains(100.00 in cash.)",
        },
        absent("div[name=payout_method] input[data-value=card]", "No card: the client paid cash"),
        absent("div[name=payout_method] input[data-value=pos]", "No till for an invoice"),
        {
            content: "The reason is proposed",
            trigger: ".modal .o_field_widget[name=reason_id] input:value(Client request)",
        },
        ...confirmed(),
        {
            content: "Back on the client's form",
            trigger: ".o_breadcrumb .active:contains(Tour Client)",
        },
    ],
});

registry.category("web_tour.tours").add("client_refund_amount_kept_tour", {
    steps: () => [
        {
            content: "Refund the invoice",
            trigger: ".o_form_view button[name=action_client_refund]",
            run: "click",
        },
        {
            content: "Part of the amount",
            trigger: ".modal div[name=refund_mode] input[data-value=amount]",
            run: "click",
        },
        {
            content: "By the amount that stays paid",
            trigger: ".modal div[name=partial_by] input[data-value=kept]",
            run: "click",
        },
        {
            content: "60.00 stays paid",
            trigger: ".modal .o_field_widget[name=amount_kept] input",
            run: "edit 60",
        },
        {
            content: "Leave the field",
            trigger: ".modal .modal-title",
            run: "click",
        },
        {
            content: "The client gets back the rest",
            trigger:
                ".modal .o_field_widget[name=money_line]:contains(The client gets back):contains(40.00 in cash.)",
        },
        absent("div[name=payout_method] input[data-value=card]", "No card: the client paid cash"),
        ...confirmed(),
    ],
});

registry.category("web_tour.tours").add("client_refund_pos_line_tour", {
    steps: () => [
        {
            content: "Refund the order",
            trigger: ".o_form_view button[name=action_client_refund]",
            run: "click",
        },
        {
            content: "Some items",
            trigger: ".modal div[name=refund_mode] input[data-value=lines]",
            run: "click",
        },
        {
            content: "The shampoos' line",
            trigger: ".modal .o_field_widget[name=line_ids] .o_data_row:contains(Tour Shampoo) td[name=quantity]",
            run: "click",
        },
        {
            content: "One of the two bottles",
            trigger: ".modal .o_field_widget[name=line_ids] .o_data_row:contains(Tour Shampoo) td[name=quantity] input",
            run: "edit 1",
        },
        {
            content: "Leave the line",
            trigger: ".modal .modal-title",
            run: "click",
        },
        {
            content: "Paid back in cash from the till",
            trigger:
                ".modal .o_field_widget[name=money_line]:contains(The client gets back):contains(12.00 in cash at Tour Till.)",
        },
        absent("div[name=payout_method] input[data-value=journal]", "An order is paid back at the till"),
        absent("div[name=payout_method] input[data-value=card]", "No card: the client paid cash"),
        ...confirmed(),
    ],
});

registry.category("web_tour.tours").add("client_refund_gift_card_tour", {
    steps: () => [
        {
            content: "Refund the gift card",
            trigger: ".o_form_view button[name=action_client_refund]",
            run: "click",
        },
        {
            content: "Its sale is cancelled: all of it goes back in cash",
            trigger:
                ".modal .o_field_widget[name=money_line]:contains(The client gets back):contains(50.00 in cash.)",
        },
        absent("div[name=refund_option] input[data-value=credit_note]", "No partial credit note on a gift card"),
        absent("div[name=payout_method] input[data-value=pos]", "Not sold at a till"),
        absent("div[name=payout_method] input[data-value=ewallet]", "Not onto an eWallet: there is none"),
        ...confirmed(),
    ],
});
