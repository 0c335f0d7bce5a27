/** @odoo-module */
/* License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0). */

import {registry} from "@web/core/registry";

/*
 * The front desk refunds on the salon's demo data (tests/test_demo_tour.py
 * opens each document as the user "frontdesk"): Anna's invoice paid in cash,
 * Chloé's shampoo bought at the till, Emma's gift card. Each tour takes what
 * the wizard proposes but the reason; the test checks what was booked. The
 * selectors rest on field and button names, and the end of the refund is
 * either the register's record or the notification that says it is done.
 */

function pickReason(search, name) {
    return [
        {
            content: "Choose the reason",
            trigger: ".modal .o_field_widget[name=reason_id] input",
            run: `edit ${search}`,
        },
        {
            content: `Pick ${name}`,
            trigger: `.o-autocomplete--dropdown-item:contains(${name})`,
            run: "click",
        },
    ];
}

function confirmAndSeeItDone() {
    return [
        {
            content: "Confirm the refund",
            trigger: ".modal button[name=action_confirm]:visible",
            run: "click",
        },
        {
            content: "The wizard is closed",
            trigger: "body:not(:has(.modal .o_form_view))",
        },
        {
            content: "The refund is done",
            trigger: [
                ".o_notification:contains(RF/):contains(Done)",
                ".o_form_view:has(.o_breadcrumb .active:contains(RF/)) .o_field_widget[name=state] button[aria-checked=true]:contains(Done)",
            ].join(", "),
        },
    ];
}

registry.category("web_tour.tours").add("client_refund_demo_invoice_tour", {
    steps: () => [
        {
            content: "Anna's invoice is open: refund her",
            trigger: ".o_form_view button[name=action_client_refund]",
            run: "click",
        },
        {
            content: "All of it is left to refund",
            trigger: ".modal .o_field_widget[name=amount_refundable]:contains(155.25)",
        },
        {
            content: "Paid back from a cash or bank journal",
            trigger: ".modal .o_field_widget[name=payout_journal_id] input",
        },
        ...pickReason("Appointment", "Appointment cancelled"),
        ...confirmAndSeeItDone(),
    ],
});

registry.category("web_tour.tours").add("client_refund_demo_pos_order_tour", {
    steps: () => [
        {
            content: "Chloé's order is open: refund her",
            trigger: ".o_form_view button[name=action_client_refund]",
            run: "click",
        },
        {
            content: "Both bottles are left to refund",
            trigger: ".modal .o_field_widget[name=amount_refundable]:contains(41.40)",
        },
        {
            content: "She paid in cash",
            trigger: ".modal .o_field_widget[name=tender_summary]:contains(Cash)",
        },
        ...pickReason("Product", "Product returned"),
        ...confirmAndSeeItDone(),
    ],
});

registry.category("web_tour.tours").add("client_refund_demo_gift_card_tour", {
    steps: () => [
        {
            content: "Emma's gift card is open: refund it",
            trigger: ".o_form_view button[name=action_client_refund]",
            run: "click",
        },
        {
            content: "60.00 is left on the card",
            trigger: ".modal .o_field_widget[name=amount_refundable]:contains(60.00)",
        },
        {
            content: "Refund all that is left",
            trigger: ".modal .o_field_widget[name=amount] input",
            run: "edit 60",
        },
        ...pickReason("Client", "Client request"),
        ...confirmAndSeeItDone(),
    ],
});

/*
 * The front desk's second round: what the wizard says before Confirm, and what
 * it never proposes.
 */

function absent(selector, content) {
    return {content, trigger: `.modal .o_form_view:not(:has(${selector}))`};
}

function discard() {
    return [
        {
            content: "Leave without refunding",
            trigger: ".modal footer button:contains(Discard)",
            run: "click",
        },
        {
            content: "The wizard is closed",
            trigger: "body:not(:has(.modal .o_form_view))",
        },
    ];
}

registry.category("web_tour.tours").add("client_refund_demo_approval_tour", {
    steps: () => [
        {
            content: "Farah's bridal package is open: refund her",
            trigger: ".o_form_view button[name=action_client_refund]",
            run: "click",
        },
        {
            content: "Before Confirm, the wizard says the refund will wait for a manager",
            trigger:
                ".modal .o_field_widget[name=approval_line]:contains(Waits for a manager's approval):contains(above $ 500.00):contains(nothing goes back until then)",
        },
        absent("button[name=action_confirm]:visible:contains(Confirm Refund)", "No Confirm: it is asked"),
        ...pickReason("Client", "Client request"),
        {
            content: "Ask for Approval",
            trigger: ".modal button[name=action_confirm]:visible:contains(Ask for Approval)",
            run: "click",
        },
        {
            content: "Staff are told it waits for approval",
            trigger: ".o_notification:contains(RF/):contains(To Approve)",
        },
        {
            content: "The wizard is closed",
            trigger: "body:not(:has(.modal .o_form_view))",
        },
    ],
});

registry.category("web_tour.tours").add("client_refund_demo_second_request_tour", {
    steps: () => [
        {
            content: "Chloé's bridal package, whose refund waits for a manager: refund it again",
            trigger: ".o_form_view button[name=action_client_refund]",
            run: "click",
        },
        {
            content: "What waits is said beside what is left",
            trigger: ".modal .o_field_widget[name=waiting_note]:contains(632.50 waits for approval: RF/)",
        },
        {
            content: "A second request for the same money is refused, before Confirm",
            trigger:
                ".modal .o_field_widget[name=refusal]:contains(left once the refunds waiting for approval are counted)",
        },
        absent("button[name=action_confirm]:visible", "Nothing to confirm"),
        ...discard(),
    ],
});

registry.category("web_tour.tours").add("client_refund_demo_card_tour", {
    steps: () => [
        {
            content: "Chloé's invoice paid online by card: refund her",
            trigger: ".o_form_view button[name=action_client_refund]",
            run: "click",
        },
        {
            content: "The money goes back in cash: the demo cannot reach Stripe",
            trigger: ".modal .o_field_widget[name=money_line]:contains(155.25 in cash)",
        },
        absent("div[name=payout_method] input[data-value=card]", "The card is not proposed"),
        ...discard(),
    ],
});

registry.category("web_tour.tours").add("client_refund_demo_ewallet_tour", {
    steps: () => [
        {
            content: "David's eWallet, topped up twice: refund it",
            trigger: ".o_form_view button[name=action_client_refund]",
            run: "click",
        },
        {
            content: "The balance reads as money",
            trigger: ".modal .o_field_widget[name=balance]:contains($ 150.00)",
        },
        {
            content: "The cash-out of the balance is proposed, not the last top-up",
            trigger: ".modal div[name=refund_option] input[data-value=expense]:checked",
        },
        {
            content: "All of the balance",
            trigger: ".modal .o_field_widget[name=amount] input:value(150.00)",
        },
        ...discard(),
    ],
});
